//! The ABI's special types rendered as IG renders them, checked against ground truth on the real
//! kernel: endpoints (`struct gadget_l4endpoint_t` → `127.0.0.1:PORT`, `::1:PORT`, with
//! `addr`/`port`/`proto`/`version` parts), `gadget_l3endpoint_t` and `union gadget_ip_addr_t`,
//! a kernel stack (`gadget_kernel_stack` → symbols from /proc/kallsyms), a user stack
//! (`struct gadget_user_stack` → ELF symbols of the live process) and argument lists keeping
//! their boundaries (rig's trace_exec, and IG's `char args[]` + `args_size` layout).
//!
//! The watched process is a small C program (tests/gadgets/types_net/prober.c) built with `cc`
//! into a temporary directory; it connects to listeners this test opened on ports the kernel
//! chose, from a function whose name the user stack must show.

use std::net::{Ipv6Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use rig_tests::{RigOutput, RigRun, repo, require_kernel};
use serde_json::Value;

/// Builds the prober as `DIR/rigtypesprobe` (its comm is what the gadget filters on).
fn build_prober(dir: &Path) -> PathBuf {
    let src = repo().join("tests/gadgets/types_net/prober.c");
    let bin = dir.join("rigtypesprobe");
    let out = Command::new("cc")
        .args(["-O1", "-fno-omit-frame-pointer", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("cc (the C compiler) is installed");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Runs the types_net gadget (`extra` flags) while the prober connects to fresh v4 and v6
/// listeners; returns rig's output and the two ports.
fn probe(extra: &[&str]) -> (RigOutput, u16, u16) {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = build_prober(dir.path());
    let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).expect("bind ::1");
    let (p4, p6) = (v4.local_addr().unwrap().port(), v6.local_addr().unwrap().port());
    let gadget = repo().join("tests/gadgets/types_net");
    let mut args = vec!["run", gadget.to_str().unwrap(), "--timeout", "4"];
    args.extend_from_slice(extra);
    let run = RigRun::start(&args);
    let status = Command::new(&bin)
        .args([p4.to_string(), p6.to_string()])
        .status()
        .expect("run the prober");
    assert!(status.success(), "the prober could not connect: {status}");
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    (out, p4, p6)
}

/// The prober's connect to `port` (other tests' probers may run at the same time).
fn event_for(events: &[Value], version: u64, port: u16) -> &Value {
    events
        .iter()
        .find(|e| e["proc"]["comm"] == "rigtypesprobe" && e["dst"]["version"] == version && e["dst"]["port"] == port)
        .unwrap_or_else(|| panic!("no IPv{version} connect to port {port} among {events:?}"))
}

#[test]
fn endpoints_addresses_and_stacks_render_as_ig_does() {
    require_kernel();
    let (out, p4, p6) = probe(&["-o", "json"]);
    let events = out.json_lines();
    for (version, addr, port) in [(4, "127.0.0.1", p4), (6, "::1", p6)] {
        let e = event_for(&events, version, port);
        // JSON nests the endpoint's parts under its name, as IG's JSON does.
        assert_eq!(e["dst"]["addr"], addr, "{e}");
        assert_eq!(e["dst"]["port"], port, "{e}");
        assert_eq!(e["dst"]["proto"], "TCP", "{e}");
        assert_eq!(e["dst_l3"]["addr"], addr, "{e}");
        assert_eq!(e["dst_l3"]["version"], version, "{e}");
        assert_eq!(e["peer"], addr, "a bare gadget_ip_addr_t: {e}");
        assert!(
            e["dst"].get("addr_raw").is_none() && e["dst"].get("proto_raw").is_none(),
            "{e}"
        );
        // sys_enter_connect fires on the syscall entry path.
        let kstack = e["kstack"].as_str().unwrap_or_else(|| panic!("no kstack: {e}"));
        assert!(kstack.contains("do_syscall_64; "), "{kstack}");
        assert!(!kstack.contains("[unknown]"), "{kstack}");
        let ustack = e["ustack"]["symbols"]
            .as_str()
            .unwrap_or_else(|| panic!("no ustack: {e}"));
        assert!(
            ustack.contains("rig_probe_outer; ") && ustack.contains("main; "),
            "{ustack}"
        );
        // IG's trace_exec layout: `char args[]` beside `args_size`, NUL-separated.
        assert_eq!(e["args"], "a b\u{a0}c", "{e}");
    }
}

#[test]
fn endpoints_fill_one_column_and_fields_select_their_parts() {
    require_kernel();
    let (out, p4, p6) = probe(&[]);
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap_or_default();
    let names: Vec<&str> = header.split_whitespace().collect();
    assert!(names.contains(&"DST") && names.contains(&"DST_L3"), "{header}");
    assert!(
        !names.contains(&"PORT") && !names.contains(&"VERSION"),
        "parts stay out of columns: {header}"
    );
    assert!(out.stdout.contains(&format!(" 127.0.0.1:{p4} ")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!(" ::1:{p6} ")), "{}", out.stdout);
    let (out, p4, _) = probe(&["--fields", "dst,dst.port,dst.proto"]);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("127.0.0.1:{p4} ")))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, [format!("127.0.0.1:{p4}"), p4.to_string(), "TCP".to_owned()]);
}

#[test]
fn trace_exec_args_keep_their_boundaries() {
    require_kernel();
    let run = rig_tests::run_json("trace_exec", &[]);
    let tag = rig_tests::tag("args");
    let status = Command::new("/bin/echo")
        .args([&format!("{tag} a b"), "c"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run echo");
    assert!(status.success());
    let out = run.wait();
    assert!(out.status.success(), "rig failed: {}", out.stderr);
    let events = out.json_lines();
    let e = events
        .iter()
        .find(|e| e["args"].as_str().is_some_and(|a| a.contains(&tag)))
        .unwrap_or_else(|| panic!("no exec of echo: {}", out.stdout));
    // IG's trace_exec joins arguments with U+00A0, so a space inside one argument stays a space.
    assert_eq!(e["args"], format!("/bin/echo\u{a0}{tag} a b\u{a0}c"));
}
