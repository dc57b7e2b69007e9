//! The bodies of rig's fuzz targets, one function per target, so the same code runs under
//! libFuzzer (`cargo +nightly fuzz run <target>`, see `fuzz_targets/`) and on the pinned stable
//! toolchain, where this crate's tests replay the committed seeds (`tests/corpus/`, the bundled
//! and test gadgets' `gadget.yaml`, the graph texts in `tests/malformed/graph/cases.json`).
//!
//! Every body takes arbitrary bytes and may see `Ok` or `Err`; the property is only that nothing
//! panics, hangs or allocates without bound. Inputs that once broke a parser are committed under
//! `tests/corpus/` and replayed by `host-actors/tests/mutated_objects.rs` as well.

use rig_host::ebpf::Gadget;
use rig_host::ebpf::btf::Btf;
use rig_host::ebpf::object::GadgetObject;
use rig_kernel::GadgetMetadata;
use rig_kernel::graph_config::GraphConfig;

pub mod seeds;

/// Type ids probed after a successful BTF parse (out-of-range ids read as `void`).
const PROBED_IDS: u32 = 512;

/// rig's BTF reader on the raw bytes of a `.BTF` section, then every query the gadget builder
/// makes of it.
pub fn btf(data: &[u8]) {
    let Ok(btf) = Btf::parse(data) else { return };
    for id in 0..PROBED_IDS {
        let _ = btf.size_of(id);
        let _ = btf.resolve(id);
        let _ = btf.describe(id);
        let _ = btf.enum_values(id);
    }
    let _ = btf.vars().count();
    let _ = btf.datasec_vars(".maps");
    let _ = btf.find_struct("event");
}

/// The ELF gadget object parser, then the gadget builder on what it accepted.
pub fn object(data: &[u8]) {
    if let Ok(obj) = GadgetObject::parse(data.to_vec(), "fuzz.bpf.o") {
        let _ = Gadget::new(obj, GadgetMetadata::default());
    }
}

/// gadget.yaml parsing (text that is not UTF-8 is refused before parsing, as rig does).
pub fn gadget_yaml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = GadgetMetadata::parse(text, "fuzz/gadget.yaml");
    }
}

/// Graph file parsing and validation (`--graph`).
pub fn graph(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = GraphConfig::parse(text, "fuzz/graph.yaml")
    {
        let _ = config.validate();
    }
}

#[cfg(test)]
mod tests;
