//! The command line users rely on: help, exit codes, one duration syntax, refusals that name
//! the culprit, suggestions for typos, version, completions and the man page — through the real
//! `rig` binary.

use rig_tests::{repo, require_kernel, rig};

/// No raw escape sequence (ESC, BEL, CSI) anywhere in `text`.
fn assert_inert(text: &str) {
    assert!(
        !text.contains(['\x1b', '\x07', '\u{9b}']),
        "raw control bytes in output: {text:?}"
    );
}

#[test]
fn run_help_lists_the_common_flags() {
    let out = rig(&["run", "--help"]);
    assert!(out.status.success(), "{}", out.stderr);
    for flag in ["--output", "--timeout", "--filter", "--graph", "--max-entries"] {
        assert!(out.stdout.contains(flag), "{flag} missing from: {}", out.stdout);
    }
}

#[test]
fn run_without_a_gadget_is_a_usage_error() {
    let out = rig(&["run"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("needs a gadget"), "{}", out.stderr);
    assert!(out.stderr.contains("Usage:"), "{}", out.stderr);
}

#[test]
fn timeouts_take_the_one_duration_syntax() {
    require_kernel();
    for t in ["1.5", "2s", "800ms"] {
        let out = rig(&["run", "trace_exec", "--timeout", t, "-o", "json"]);
        assert!(out.status.success(), "--timeout {t}: {}", out.stderr);
    }
}

#[test]
fn bad_durations_are_short_errors() {
    for (flag, v) in [
        ("--timeout", "30000000000000000000s"),
        ("--timeout", "soon"),
        ("--timeout", "-5"),
        ("--timeout", "0"),
    ] {
        let out = rig(&["run", "trace_exec", flag, v]);
        assert_eq!(out.status.code(), Some(2), "{flag} {v}: {}", out.stderr);
        assert!(out.stderr.contains("--timeout"), "{}", out.stderr);
        assert!(!out.stderr.contains("unexpected argument"), "{}", out.stderr);
        assert!(out.stderr.len() < 400, "{}", out.stderr);
    }
    let out = rig(&["run", "trace_exec", "--sort", "proc.pid", "--sort-window", "30000000000000000000s"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("maximum"), "{}", out.stderr);
}

#[test]
fn negative_numbers_are_values() {
    require_kernel();
    let out = rig(&["run", "trace_exec", "--pid", "-5", "--timeout", "1"]);
    assert!(!out.status.success());
    assert!(!out.stderr.contains("unexpected argument"), "{}", out.stderr);
    assert!(out.stderr.contains("--pid"), "{}", out.stderr);
    let out = rig(&["run", "trace_exec", "--max-entries", "-5"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("≥ 0"), "{}", out.stderr);
}

#[test]
fn graph_refuses_the_chain_flags() {
    let graph = repo().join("docs/examples/graph.yaml");
    let graph = graph.to_str().expect("utf-8 path");
    for extra in [
        &["--filter", "proc.comm==cat"][..],
        &["--filter-expr", "proc.pid > 1"],
        &["--sort", "proc.pid"],
        &["--max-entries", "3"],
        &["--operator", "x.wasm"],
    ] {
        let mut args = vec!["run", "trace_exec", "--graph", graph];
        args.extend_from_slice(extra);
        let out = rig(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
        assert!(out.stderr.contains(extra[0]), "{}", out.stderr);
    }
}

#[test]
fn the_readme_graph_runs() {
    require_kernel();
    let graph = repo().join("docs/examples/graph.yaml");
    for gadget in ["trace_exec", "trace_open"] {
        let out = rig(&["run", gadget, "--graph", graph.to_str().unwrap(), "--timeout", "1s"]);
        assert!(out.status.success(), "{gadget}: {}", out.stderr);
    }
}

#[test]
fn a_typo_suggests_the_bundled_name_without_the_network() {
    let out = rig(&["run", "trace_exex"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("did you mean trace_exec?"), "{}", out.stderr);
    assert!(!out.stderr.contains("pulling"), "{}", out.stderr);
}

#[test]
fn version_completion_and_man_page() {
    let out = rig(&["version"]);
    assert!(out.status.success());
    assert!(out.stdout.starts_with("rig "), "{}", out.stdout);
    assert!(out.stdout.contains("commit "), "{}", out.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let out = rig(&["completion", shell]);
        assert!(out.status.success(), "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("rig"), "{shell}");
    }
    let out = rig(&["man"]);
    assert!(out.status.success());
    assert!(out.stdout.contains(".TH rig"), "{}", out.stdout);
}

#[test]
fn piped_logs_have_no_colours() {
    let out = rig(&["-vv", "gadgets"]);
    assert!(out.status.success(), "{}", out.stderr);
    let out = rig(&["-vv", "run", "trace_exex"]);
    assert_inert(&out.stderr);
}

#[test]
fn control_bytes_in_errors_are_escaped() {
    for args in [&["run", "\x1b]0;x\x07"][..], &["\x1b]0;x\x07"], &["run", "trace_exec", "--\x1b[31mred"]] {
        let out = rig(args);
        assert!(!out.status.success());
        assert_inert(&out.stderr);
    }
    let out = rig(&["run", "\x1b]0;x\x07"]);
    assert!(out.stderr.contains("\\e]0;x"), "{}", out.stderr);
    let long = "y".repeat(10_000);
    let out = rig(&["run", &long]);
    assert!(out.stderr.len() < 2_500, "{} bytes", out.stderr.len());
}

#[test]
fn a_parameter_named_like_a_run_flag_is_refused() {
    let dir = repo().join("tests/gadgets/param_timeout");
    let out = rig(&["run", dir.to_str().unwrap(), "--timeout", "1"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("\"timeout\""), "{}", out.stderr);
    assert!(out.stderr.contains("--timeout"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
