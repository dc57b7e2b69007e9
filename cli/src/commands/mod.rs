//! rig's subcommands. Each one is a thin shell over `rig-host`: it turns flags into typed
//! options, calls the library, and prints.

mod containers;
mod gadget;
mod image;
mod operator;
mod run;
mod select;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rig: inspect Linux hosts with eBPF gadgets.
#[derive(Debug, Parser)]
#[command(name = "rig", version, about, propagate_version = true)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gadget: a bundled name (trace_exec), a gadget folder, or an eBPF object.
    ///
    /// Common flags: -o/--output columns|json|jsonpretty|yaml, --fields a,b, --timeout SECONDS.
    /// The gadget's own parameters become flags too: see `rig run GADGET --help`.
    #[command(disable_help_flag = true)]
    Run(run::RunCmd),
    /// Gadget images: build, list, inspect, tag, remove, push, pull, export, import, sign, verify.
    Image(image::ImageCmd),
    /// Save credentials for a registry (in Docker's config.json).
    Login(image::LoginCmd),
    /// Forget the credentials for a registry.
    Logout(image::LogoutCmd),
    /// Write and build operators: `rig operator new --lang rust|python|js|c NAME`, `rig operator build DIR`.
    Operator(operator::OperatorCmd),
    /// List the containers on this host (containerd, runc, crun, podman); `--watch` follows them.
    ListContainers(containers::ListContainersCmd),
    /// Describe a gadget for operator authors: `rig gadget info NAME [-o json]` lists its
    /// datasources, every field's kind, offset, size and storage, and its parameters.
    Gadget(gadget::GadgetCmd),
    /// List the gadgets bundled with this binary.
    Gadgets {
        /// Also compile each one (cached) and show its datasources.
        #[arg(long)]
        build: bool,
    },
    /// Print rig's version, the git commit it was built from, and the versions of its engines.
    Version,
    /// Print a shell completion script: `rig completion bash > /etc/bash_completion.d/rig`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print rig's man page (roff): `rig man | man -l -`.
    Man,
}

impl Command {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(cmd) => cmd.execute(),
            Command::Image(cmd) => cmd.execute(),
            Command::Login(cmd) => cmd.execute(),
            Command::Logout(cmd) => cmd.execute(),
            Command::Operator(cmd) => cmd.execute(),
            Command::ListContainers(cmd) => cmd.execute(),
            Command::Gadget(cmd) => cmd.execute(),
            Command::Gadgets { build } => {
                for g in rig_host::compile::bundled() {
                    if !build {
                        println!("{g}");
                        continue;
                    }
                    let gadget = rig_host::gadget::resolve(g)?;
                    let ds: Vec<_> = gadget
                        .datasources
                        .iter()
                        .map(|d| d.schema.datasource.as_str())
                        .collect();
                    println!("{g}\t{}", ds.join(","));
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Version => {
                println!("rig {}", env!("CARGO_PKG_VERSION"));
                println!("commit {}", option_env!("RIG_GIT_COMMIT").unwrap_or("unknown"));
                Ok(ExitCode::SUCCESS)
            }
            Command::Completion { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "rig", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
            Command::Man => {
                let cmd = <Cli as clap::CommandFactory>::command();
                clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Prints a command-line error from clap and returns its exit code (0 for help and version, 2
/// for usage errors). Help is printed as clap renders it; an error has its control bytes escaped
/// line by line, since clap quotes what the user typed verbatim.
pub fn print_clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let lines: Vec<String> = text
        .lines()
        .map(|l| rig_kernel::input::shorten(&rig_kernel::input::escape_control(l), 500).into_owned())
        .collect();
    eprintln!("{}", lines.join("\n"));
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// Logs go to stderr; stdout is for events only. Colours only when stderr is a terminal, so a
/// log file or a pipe gets plain text.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // A closed stderr (`2>&1 | head`) must never panic a stage that logs.
        .with_writer(|| rig_host::sinks::stderr::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// A header or row from string literals.
pub(crate) fn cells<const N: usize>(names: [&str; N]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Rows padded to their columns' widths, two spaces apart; the columns in `right` are aligned
/// right, and the last column is not padded.
pub(crate) fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let w = widths[i];
            if right.contains(&i) {
                line.push_str(&format!("{cell:>w$}"));
            } else if i + 1 < r.len() {
                line.push_str(&format!("{cell:<w$}"));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn tables_align_and_leave_the_last_column_unpadded() {
        use super::{cells, table};
        let rows = vec![
            cells(["A", "N", "LAST"]),
            cells(["long", "7", "x"]),
            cells(["b", "123", "y"]),
        ];
        assert_eq!(table(&rows, &[1]), "A       N  LAST\nlong    7  x\nb     123  y\n");
    }
}
