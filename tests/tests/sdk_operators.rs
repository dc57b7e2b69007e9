//! Operators written with the Python and JavaScript SDKs that `rig operator new` ships
//! (`rig_operator.py`, `rig-operator.js`) run on real trace_open events.
//!
//! Each test creates a project with `rig operator new`, replaces its skeleton with a small
//! operator that uses the SDK's column API — a `Mask` from `startswith` on `fname` and `equals`
//! on `proc.comm`, combined, `take` of the matching rows and `fill` of `proc.comm` — builds it
//! with `rig operator build`, runs it in `rig run trace_open` while `cat` and `head` open files
//! under a unique marker, and checks that exactly the marker's opens by `cat` come out, with
//! `proc.comm` rewritten, and that the operator's counter reached `--stats`.
//!
//! Nothing is skipped: without root and BTF, or without the guest toolchains
//! (operators/examples/install-toolchains.sh), the test fails saying what is missing.

use rig_tests::{operator_build, operator_new, require_kernel, run_json, sh, tag, utf8};

/// The Python operator: settings `prefix` and `comm` (the rewritten `proc.comm`).
const PYTHON: &str = r#"
import rig_operator as rig


class Marked(rig.Operator):
    def init(self, config, input):
        self.prefix = config.require("prefix")
        self.comm = config.require("comm")
        input.resolve("fname", rig.FieldKind.TEXT)

    def process(self, batch):
        mask = batch.column("fname").startswith(self.prefix) & batch.column("proc.comm").equals("cat")
        kept = batch.take(mask)
        kept.column("proc.comm").fill(self.comm)
        rig.count("marked", kept.count)
        return kept


Operator = rig.export(Marked)
"#;

/// The same operator in JavaScript.
const JS: &str = r#"
import * as rig from './rig-operator.js';

class Marked extends rig.Operator {
  init(config, input) {
    this.prefix = config.require('prefix');
    this.comm = config.require('comm');
    input.resolve('fname', 'text');
  }

  process(batch) {
    const mask = batch.column('fname').startsWith(this.prefix).and(batch.column('proc.comm').equals('cat'));
    const kept = batch.take(mask);
    kept.column('proc.comm').fill(this.comm);
    rig.count('marked', kept.count);
    return kept;
  }
}

export const operator = rig.exportOperator(Marked);
"#;

/// Creates the `lang` project NAME with `source` as its operator, builds it and runs it on
/// trace_open while marked and unmarked files are opened; checks what came out.
fn marked_opens_come_out_rewritten(lang: &str, file: &str, source: &str) {
    require_kernel();
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("sdk-{lang}");
    let project = dir.path().join(&name);
    operator_new(lang, &name, &project);
    let sdk = if lang == "python" {
        "rig_operator.py"
    } else {
        "rig-operator.js"
    };
    assert!(
        project.join(sdk).is_file(),
        "`rig operator new --lang {lang}` must ship the SDK {sdk}"
    );
    std::fs::write(project.join(file), source).expect("write the operator");
    operator_build(&project, None, &[]);
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "no {}", wasm.display());

    let t = tag(&format!("sdk-{lang}"));
    let prefix = format!("/nonexistent/{t}/");
    let comm = format!("by-{lang}");
    let (prefix_param, comm_param) = (format!("{name}.prefix={prefix}"), format!("{name}.comm={comm}"));
    let params = ["--operator-param", &prefix_param, "--operator-param", &comm_param];
    let run = run_json(
        "trace_open",
        &[&["--stats", "--operator", utf8(&wasm)], &params[..]].concat(),
    );
    sh("cat", &[&format!("{prefix}one")]);
    sh("head", &[&format!("{prefix}not-by-cat")]);
    sh("cat", &[&format!("/nonexistent/{t}-decoy")]);
    sh("cat", &[&format!("{prefix}two")]);
    let out = run.wait();
    assert!(out.status.success(), "rig run with the {lang} operator: {}", out.stderr);

    let events = out.json_lines();
    let fnames: Vec<&str> = events.iter().map(|e| e["fname"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        fnames,
        [format!("{prefix}one"), format!("{prefix}two")],
        "only cat's opens under the marker pass the {lang} operator:\n{}",
        out.stdout
    );
    for e in &events {
        assert_eq!(e["proc"]["comm"], comm.as_str(), "proc.comm is rewritten: {e}");
        assert_eq!(e["error"], "ENOENT", "the other fields are intact: {e}");
    }
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("marked=")),
        "--stats shows the operator's counter `marked`:\n{}",
        out.stderr
    );
}

#[test]
fn a_python_operator_written_with_the_sdk_filters_and_rewrites_real_events() {
    marked_opens_come_out_rewritten("python", "app.py", PYTHON);
}

#[test]
fn a_javascript_operator_written_with_the_sdk_filters_and_rewrites_real_events() {
    marked_opens_come_out_rewritten("js", "operator.js", JS);
}
