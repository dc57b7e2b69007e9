//! cargo-fuzz target `graph`: arbitrary bytes into [`rig_fuzz::graph`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rig_fuzz::graph(data));
