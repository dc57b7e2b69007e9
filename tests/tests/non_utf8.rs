//! File names that are not UTF-8, end to end: `trace_open` on the real kernel sees `cat` open
//! `d/\xff\xfeRIG-<pid>`, and every output format shows the whole name, the two invalid bytes
//! as the text `\xff\xfe`, instead of cutting it at the first bad byte (`d/`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rig_tests::{RigRun, require_kernel};

/// A directory holding `d/<name>`, removed when the test ends.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The raw name `cat` opens (relative to the directory) and how rig must show it.
fn names() -> (Vec<u8>, String) {
    let pid = std::process::id();
    let mut raw = b"d/\xff\xfeRIG-".to_vec();
    raw.extend_from_slice(pid.to_string().as_bytes());
    (raw, format!("d/\\xff\\xfeRIG-{pid}"))
}

fn setup(format: &str) -> (Dir, Vec<u8>, String) {
    let dir = Dir(std::env::temp_dir().join(format!("rig-non-utf8-{}-{format}", std::process::id())));
    let (raw, shown) = names();
    std::fs::create_dir_all(dir.0.join("d")).expect("create the test directory");
    std::fs::write(dir.0.join(OsStr::from_bytes(&raw)), b"x").expect("create a file named with invalid UTF-8");
    (dir, raw, shown)
}

/// Runs `trace_open -o FORMAT --comm cat` while `cat` opens the file, and returns stdout.
fn run(format: &str) -> (String, String) {
    let (dir, raw, shown) = setup(format);
    let run = RigRun::start(&["run", "trace_open", "-o", format, "--comm", "cat", "--timeout", "3"]);
    let status = Command::new("cat")
        .arg(OsStr::from_bytes(&raw))
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .status()
        .expect("run cat");
    assert!(status.success(), "cat could not read its own file");
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    (out.stdout, shown)
}

#[test]
fn json_shows_a_non_utf8_file_name_whole() {
    require_kernel();
    let (stdout, shown) = run("json");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(
        events.iter().any(|e| e["fname"] == shown.as_str()),
        "no event with fname {shown:?} among:\n{stdout}"
    );
    // On the wire the escape's backslash is itself escaped.
    assert!(stdout.contains(&shown.replace('\\', "\\\\")), "{stdout}");
}

#[test]
fn columns_show_a_non_utf8_file_name_whole() {
    require_kernel();
    let (stdout, shown) = run("columns");
    assert!(
        stdout.lines().any(|l| l.contains(&shown) && l.contains("cat")),
        "no line with {shown} in:\n{stdout}"
    );
}

#[test]
fn yaml_shows_a_non_utf8_file_name_whole() {
    require_kernel();
    let (stdout, shown) = run("yaml");
    assert!(
        stdout.lines().any(|l| l.trim() == format!("fname: {shown}")),
        "no fname: {shown} in:\n{stdout}"
    );
}
