//! Deterministic mutation of real gadget objects: every flipped, zeroed or truncated variant of a
//! compiled `.bpf.o` (and of its BTF) must parse to `Ok` or `Err`, never panic, hang or allocate
//! wildly. This is the stable-toolchain counterpart of the `fuzz/` cargo-fuzz targets; inputs
//! that once broke the parser live in `tests/corpus/` and are replayed here too.

use std::path::PathBuf;

use rig_host::ebpf::Gadget;
use rig_host::ebpf::btf::Btf;
use rig_host::ebpf::object::GadgetObject;
use rig_kernel::GadgetMetadata;

/// A small xorshift PRNG: the same mutations on every run, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Compiled objects: the bundled gadgets built into the cache, if present, else the corpus.
fn objects() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in rig_host::compile::bundled() {
        let dir = rig_host::compile::bundled_dir(name).unwrap().unwrap();
        match rig_host::compile::compile(&dir, "program.bpf.c") {
            Ok(obj) => out.push((name.to_owned(), std::fs::read(obj).unwrap())),
            Err(e) => panic!("{name}: cannot build the bundled gadget to mutate it: {e}"),
        }
    }
    out
}

fn exercise(bytes: Vec<u8>) {
    if let Ok(obj) = GadgetObject::parse(bytes, "mutant.bpf.o") {
        let _ = Gadget::new(obj, GadgetMetadata::default());
    }
}

#[test]
fn mutated_objects_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, bytes) in objects() {
        for round in 0..400 {
            let mut m = bytes.clone();
            match round % 4 {
                0 => {
                    let cut = (rng.next() as usize) % m.len();
                    m.truncate(cut);
                }
                1 => {
                    for _ in 0..(1 + rng.next() % 8) {
                        let i = (rng.next() as usize) % m.len();
                        m[i] ^= 1 << (rng.next() % 8);
                    }
                }
                2 => {
                    let i = (rng.next() as usize) % m.len();
                    let end = (i + 4).min(m.len());
                    m[i..end].fill(0xff);
                }
                _ => {
                    let i = (rng.next() as usize) % m.len();
                    m[i] = rng.next() as u8;
                }
            }
            let result = std::panic::catch_unwind(|| exercise(m.clone()));
            if result.is_err() {
                let path = std::env::temp_dir().join(format!("rig-mutant-{name}-{round}.bpf.o"));
                std::fs::write(&path, &m).unwrap();
                panic!("{name}: mutation {round} panicked the parser; input saved to {}", path.display());
            }
        }
    }
}

#[test]
fn mutated_btf_never_panics() {
    let mut rng = Rng(42);
    for (name, bytes) in objects() {
        let elf = object::File::parse(&*bytes).unwrap();
        use object::{Object as _, ObjectSection as _};
        let btf = elf.section_by_name(".BTF").unwrap().data().unwrap().to_vec();
        for round in 0..2000 {
            let mut m = btf.clone();
            for _ in 0..(1 + rng.next() % 4) {
                let i = (rng.next() as usize) % m.len();
                m[i] = rng.next() as u8;
            }
            let r = std::panic::catch_unwind(|| {
                if let Ok(b) = Btf::parse(&m) {
                    for id in 0..512 {
                        let _ = b.size_of(id);
                        let _ = b.resolve(id);
                        let _ = b.describe(id);
                    }
                }
            });
            assert!(r.is_ok(), "{name}: BTF mutation {round} panicked");
        }
    }
}

#[test]
fn the_corpus_replays_without_panics() {
    let dir = repo().join("tests/corpus/objects");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| exercise(bytes));
        assert!(r.is_ok(), "{} panicked", path.display());
    }
    let dir = repo().join("tests/corpus/gadget-yaml");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let r = std::panic::catch_unwind(|| GadgetMetadata::parse(&text, "corpus.yaml"));
        assert!(r.is_ok_and(|r| r.is_err()), "{} was accepted or panicked", path.display());
    }
}

#[test]
fn a_struct_containing_itself_is_refused_by_name() {
    let path = repo().join("tests/corpus/objects/struct-contains-itself.bpf.o");
    let obj = GadgetObject::parse(std::fs::read(path).unwrap(), "self.bpf.o").unwrap();
    let e = Gadget::new(obj, GadgetMetadata::default()).unwrap_err().to_string();
    assert!(e.contains("struct event") && e.contains("deeper"), "{e}");
    assert!(e.len() < 300, "{e}");
}
