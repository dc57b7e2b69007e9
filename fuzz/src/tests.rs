//! Replays every seed through its target's body on the stable toolchain: the committed corpora
//! stay panic-free even where nightly (and so `cargo fuzz run`) is missing.

use super::seeds::{TARGETS, seeds};

fn body(target: &str) -> fn(&[u8]) {
    match target {
        "btf" => super::btf,
        "object" => super::object,
        "gadget_yaml" => super::gadget_yaml,
        "graph" => super::graph,
        other => panic!("no body for fuzz target {other}"),
    }
}

#[test]
fn every_seed_replays_without_a_panic() {
    for target in TARGETS {
        let seeds = seeds(target).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(!seeds.is_empty(), "{target}: no seeds found");
        let run = body(target);
        for s in seeds {
            let r = std::panic::catch_unwind(|| run(&s.bytes));
            assert!(r.is_ok(), "{target}: seed {} panicked", s.name);
        }
    }
}

#[test]
fn an_unknown_target_is_refused_by_name() {
    let e = seeds("nosuchtarget").unwrap_err().to_string();
    assert!(e.contains("nosuchtarget"), "{e}");
}
