//! cargo-fuzz target `btf`: arbitrary bytes into [`rig_fuzz::btf`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::btf(data));
