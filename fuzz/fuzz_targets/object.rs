//! cargo-fuzz target `object`: arbitrary bytes into [`rig_fuzz::object`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::object(data));
