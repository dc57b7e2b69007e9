//! cargo-fuzz target `gadget_yaml`: arbitrary bytes into [`rig_fuzz::gadget_yaml`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::gadget_yaml(data));
