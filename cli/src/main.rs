//! The `rig` binary: parses the command line and dispatches to a command. Nothing else.

mod commands;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    commands::init_logging(cli.verbose);
    match cli.command.execute() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
