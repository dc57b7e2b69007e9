//! The `rig` binary: parses the command line and dispatches to a command. Nothing else.
//!
//! Every error it prints starts with `error: `, has its control bytes escaped and is cut at
//! [`MAX_ERROR`] characters: an error may quote a file name, a tarball's text or a flag value,
//! and none of those may move the cursor, forge lines or flood the terminal. Only rig's own
//! multi-line messages (a verifier log's tail) span lines, and every line after the first is
//! indented, so none can pass for an `error:` line of its own.

mod commands;

use std::process::ExitCode;

use clap::Parser;
use rig_kernel::input::{escape_control, shorten};

/// The longest error message printed, in characters (a verifier error with its log's tail fits).
const MAX_ERROR: usize = 4000;

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return commands::print_clap_error(&e),
    };
    commands::init_logging(cli.verbose);
    match cli.command.execute() {
        Ok(code) => code,
        Err(e) => {
            use std::io::Write as _;
            // One write, and never a panic when stderr is closed.
            let _ = std::io::stderr().write_all(render(&e).as_bytes());
            ExitCode::FAILURE
        }
    }
}

/// The error as printed: `error: ` and the first line, then the others indented, each escaped.
fn render(e: &anyhow::Error) -> String {
    let msg = one_line(e);
    let msg = shorten(&msg, MAX_ERROR);
    let mut lines = msg.split('\n');
    let mut out = format!("error: {}\n", escape_control(lines.next().unwrap_or_default()));
    for l in lines.filter(|l| !l.trim().is_empty()) {
        out.push_str("  ");
        out.push_str(&escape_control(l));
        out.push('\n');
    }
    out
}

/// The error and its causes joined by `: `, each cause once: many of rig's errors already quote
/// their source in their own message, which `{:#}` would repeat.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn further_lines_are_indented_and_escaped_so_none_passes_for_an_error_line() {
        let e = anyhow::anyhow!("program p was rejected\nlast 2 lines:\n  R1 \x1b[31mbad\nerror: forged\n");
        let out = render(&e);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "error: program p was rejected");
        assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{out}");
        assert_eq!(out.matches("error:").count(), 2, "the forged one is indented: {out}");
        assert!(!out.contains('\x1b') && out.contains("\\e[31m"), "{out}");
        assert!(out.ends_with('\n') && !out.ends_with("\n\n"), "{out:?}");
    }

    #[test]
    fn a_long_error_is_cut() {
        let e = anyhow::anyhow!("{}", "x".repeat(3 * MAX_ERROR));
        assert!(render(&e).chars().count() < MAX_ERROR + 100);
    }
}
