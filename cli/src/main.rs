//! The `rig` binary: parses the command line and dispatches to a command. Nothing else.
//!
//! Every error it prints is one line, with control bytes escaped and cut at [`MAX_ERROR`]
//! characters: an error may quote a file name, a tarball's text or a flag value, and none of
//! those may move the cursor, forge lines or flood the terminal.

mod commands;

use std::process::ExitCode;

use clap::Parser;
use rig_kernel::input::{escape_control, shorten};

/// The longest error message printed, in characters.
const MAX_ERROR: usize = 2000;

fn main() -> ExitCode {
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return commands::print_clap_error(&e),
    };
    commands::init_logging(cli.verbose);
    match cli.command.execute() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", shorten(&escape_control(&one_line(&e)), MAX_ERROR));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: many of rig's errors already quote
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
