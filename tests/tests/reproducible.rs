//! Building the same operator twice gives the same bytes, in every template language, and a
//! Python build writes nothing into the author's folder.
//!
//! Rust and C builds are reproducible by themselves: the test builds two copies of one project
//! in different folders. Python and JavaScript components hold a snapshot of an interpreter run
//! at build time (with random seeds, clock readings and file times in it), so their build.sh
//! keeps each build in a cache keyed by a hash of its inputs (operators/templates/build-cache.sh):
//! the test builds one project twice into two paths with a fresh cache, and checks that a
//! changed source is really rebuilt. The toolchains come from
//! operators/examples/install-toolchains.sh; a missing one fails the test, naming it.

use std::path::{Path, PathBuf};

use rig_tests::{RigOutput, operator_build, operator_new, utf8};

/// A fresh `lang` project in `dir`/`folder`.
fn new_project(lang: &str, dir: &Path, folder: &str) -> PathBuf {
    let project = dir.join(folder);
    operator_new(lang, &format!("repro-{lang}"), &project);
    project
}

/// `rig operator build PROJECT -o OUT` with the build cache in `cache`; returns OUT's bytes and
/// what the build printed.
fn build(project: &Path, out: &Path, cache: &Path) -> (Vec<u8>, RigOutput) {
    let printed = operator_build(project, Some(out), &[("RIG_BUILD_CACHE", utf8(cache))]);
    (std::fs::read(out).expect("read the component"), printed)
}

/// Fails naming the first differing byte.
fn assert_same(lang: &str, a: &[u8], b: &[u8]) {
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    assert!(
        a == b,
        "{lang}: two builds differ ({} and {} bytes, first difference at byte {first:?})",
        a.len(),
        b.len()
    );
}

/// Two copies of one project, in different folders, build to the same bytes.
fn compiled(lang: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let (a, _) = build(
        &new_project(lang, dir.path(), "one"),
        &dir.path().join("a.wasm"),
        &cache,
    );
    let (b, _) = build(
        &new_project(lang, dir.path(), "two"),
        &dir.path().join("b.wasm"),
        &cache,
    );
    assert_same(lang, &a, &b);
}

/// One project built twice into two paths gives the same bytes (the second from the cache);
/// an edited source is rebuilt. Returns the project, for checks on what the build left there.
fn interpreted(lang: &str, source: &str, edit: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let project = new_project(lang, dir.path(), "project");
    let (a, first) = build(&project, &dir.path().join("a.wasm"), &cache);
    assert!(
        first.stderr.contains("building with"),
        "the first build runs: {}",
        first.stderr
    );
    assert!(
        first.stderr.contains("built in"),
        "it says how long it took: {}",
        first.stderr
    );
    let (b, second) = build(&project, &dir.path().join("b.wasm"), &cache);
    assert_same(lang, &a, &b);
    assert!(
        second.stderr.contains("sources unchanged"),
        "the second build of the same sources says where its bytes come from: {}",
        second.stderr
    );
    let path = project.join(source);
    let text = std::fs::read_to_string(&path).expect("read the source");
    std::fs::write(&path, format!("{text}{edit}")).expect("edit the source");
    let (_, third) = build(&project, &dir.path().join("c.wasm"), &cache);
    assert!(
        third.stderr.contains("building with"),
        "an edited source is rebuilt, not taken from the cache: {}",
        third.stderr
    );
    (dir, project)
}

#[test]
fn rust_builds_are_reproducible() {
    compiled("rust");
}

#[test]
fn c_builds_are_reproducible() {
    compiled("c");
}

#[test]
fn python_builds_are_reproducible_and_leave_no_pycache() {
    let (_dir, project) = interpreted("python", "app.py", "\nEDITED = True\n");
    let mut found = Vec::new();
    let mut stack = vec![project];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read the project").flatten() {
            if e.file_name() == "__pycache__" || e.path().extension().is_some_and(|x| x == "pyc") {
                found.push(e.path());
            } else if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(found.is_empty(), "the Python build wrote into the project: {found:?}");
}

#[test]
fn javascript_builds_are_reproducible() {
    interpreted("js", "operator.js", "\nexport const edited = true;\n");
}
