//! `rig run GADGET [flags]`: the gadget decides part of the command line.
//!
//! Parsing happens twice. clap first takes the gadget reference and keeps the rest verbatim;
//! once the gadget is resolved, a second clap command is built from the common run flags plus
//! one flag per `GADGET_PARAM` (typed and documented from BTF and gadget.yaml) and parses the
//! rest, so `rig run trace_open --help` lists that gadget's own flags and a misspelt flag is
//! refused by name before anything is loaded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Args};
use rig_host::ebpf::Gadget;
use rig_host::ebpf::object::ParamType;
use rig_host::graph::OperatorOptions;
use rig_host::registry::ImageOptions;
use rig_host::run::{RunOptions, StopReason};
use rig_host::sinks::OutputFormat;
use rig_kernel::input::{parse_duration, quote};

/// `rig run` before the gadget is known.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// Gadget: a bundled name, a folder with program.bpf.c, or a .bpf.o file.
    // Hyphen values reach `execute`, so `rig run --help` prints the run flags.
    #[arg(allow_hyphen_values = true)]
    gadget: Option<String>,
    /// Flags for the gadget run (see `rig run GADGET --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn common_flags(cmd: clap::Command) -> clap::Command {
    let cmd = super::image::run_flags(cmd);
    let cmd = cmd
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .default_value("columns")
                .help("Output format: columns, json, jsonpretty or yaml"),
        )
        .arg(
            Arg::new("fields")
                .long("fields")
                .help("Comma-separated fields to show (default: all visible fields)"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .allow_negative_numbers(true)
                .value_parser(parse_duration)
                .help("Stop after this long: 10, 1.5, 500ms, 2s, 1m (default: run until Ctrl-C)"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("Print help"),
        )
        .args(operator_flags());
    let cmd = <super::select::SelectorArgs as Args>::augment_args(cmd);
    <super::containers::RuntimeArgs as Args>::augment_args(cmd)
}

/// Flags that build the default operator chain (filter → custom operators → sort → limit) or
/// replace it with a graph file.
fn operator_flags() -> Vec<Arg> {
    let heading = "Operators";
    vec![
        Arg::new("filter")
            .long("filter")
            .help_heading(heading)
            .help("Keep events matching 'field==v,field!=v,field>=v,field~regex' (comma = AND, \\, escapes)"),
        Arg::new("filter-expr").long("filter-expr").help_heading(heading).help(
            "Keep events matching a boolean expression: proc.comm in [\"cat\",\"less\"] && fname matches \"^/etc/\"",
        ),
        Arg::new("sort")
            .long("sort")
            // `--sort -timestamp` (descending) is a value, not a flag.
            .allow_hyphen_values(true)
            .help_heading(heading)
            .help("Sort by fields, '-' for descending: -timestamp,proc.pid"),
        Arg::new("sort-window")
            .long("sort-window")
            .requires("sort")
            .allow_negative_numbers(true)
            .value_parser(|s: &str| parse_duration(s).map(|_| s.to_owned()))
            .help_heading(heading)
            .help("With --sort on a stream: emit the rows of each window (500ms, 2s, 1m) sorted, not all at the end"),
        Arg::new("max-entries")
            .long("max-entries")
            .allow_negative_numbers(true)
            .value_parser(|s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{} must be a whole number ≥ 0", quote(s, 40)))
            })
            .help_heading(heading)
            .help("Show at most this many events"),
        Arg::new("operator")
            .long("operator")
            .action(ArgAction::Append)
            .help_heading(heading)
            .help("Add a WASM operator: a component FILE.wasm or an image oci://REF (node named as `rig operator new` named it, else after the file or image name); repeatable"),
        Arg::new("operator-param")
            .long("operator-param")
            .action(ArgAction::Append)
            .help_heading(heading)
            .help("NODE.KEY=VALUE setting for an operator node; repeatable"),
        Arg::new("graph")
            .long("graph")
            // A graph file replaces the default chain: these flags would be silently lost.
            .conflicts_with_all(["filter", "filter-expr", "sort", "sort-window", "max-entries", "operator"])
            .help_heading(heading)
            .help("A graph file (YAML) replacing the default operator chain; see docs/graph.md"),
        Arg::new("stats")
            .long("stats")
            .action(ArgAction::SetTrue)
            .help_heading(heading)
            .help("Print per-node statistics at the end (events in/out/lost, busy time; for operators calls, guest time, traps, restarts and their own counters)"),
    ]
}

fn operator_options(m: &ArgMatches, images: ImageOptions) -> anyhow::Result<OperatorOptions> {
    let mut params = Vec::new();
    for p in m.get_many::<String>("operator-param").into_iter().flatten() {
        let bad = || format!("--operator-param {p}: expected NODE.KEY=VALUE");
        let (lhs, value) = p.split_once('=').with_context(bad)?;
        let (node, key) = lhs.split_once('.').with_context(bad)?;
        params.push((node.to_owned(), key.to_owned(), value.to_owned()));
    }
    Ok(OperatorOptions {
        filter: m.get_one::<String>("filter").cloned(),
        filter_expr: m.get_one::<String>("filter-expr").cloned(),
        sort: m.get_one::<String>("sort").cloned(),
        sort_window: m.get_one::<String>("sort-window").cloned(),
        max_entries: m.get_one::<u64>("max-entries").copied(),
        custom: m
            .get_many::<String>("operator")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        params,
        graph: m.get_one::<String>("graph").map(PathBuf::from),
        images,
    })
}

/// The `--stats` table on stderr (docs/operators.md, "Statistics", says what each column means).
fn print_stats(report: &rig_host::run::RunReport) {
    use rig_host::run::HOST_COUNTERS;
    let ms = |d: std::time::Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
    let mut rows = vec![super::cells([
        "NODE", "BATCHES", "IN", "OUT", "LOST", "BUSY", "CALLS", "GUEST", "TRAPS", "RESTARTS", "COUNTERS",
    ])];
    for line in report.stats() {
        let n = &line.stats;
        let node = rig_kernel::input::escape_control(&n.node).into_owned();
        if line.abandoned {
            let mut row = vec![node];
            row.extend(std::iter::repeat_n("-".to_owned(), 9));
            row.push("abandoned: still busy when the run ended, no statistics".into());
            rows.push(row);
            continue;
        }
        let counter = |name: &str| n.counters.get(name).copied().unwrap_or_default();
        let host = |name: &str| {
            if line.operator {
                counter(name).to_string()
            } else {
                "-".to_owned()
            }
        };
        let guest = if line.operator {
            ms(std::time::Duration::from_nanos(counter("guest_ns")))
        } else {
            "-".to_owned()
        };
        let own: Vec<String> = n
            .counters
            .iter()
            .filter(|(k, _)| !(line.operator && HOST_COUNTERS.contains(&k.as_str())))
            .map(|(k, v)| format!("{}={v}", rig_kernel::input::escape_control(k)))
            .collect();
        rows.push(vec![
            node,
            n.batches.to_string(),
            n.events_in.to_string(),
            n.events_out.to_string(),
            n.events_lost.to_string(),
            ms(n.busy),
            host("calls"),
            guest,
            host("traps"),
            host("restarts"),
            own.join(" "),
        ]);
    }
    eprint!("{}", super::table(&rows, &[1, 2, 3, 4, 5, 6, 7, 8, 9]));
}

/// A gadget parameter that cannot become a flag of `rig run`.
#[derive(Debug, thiserror::Error)]
pub enum ParamFlagError {
    /// The key is already one of rig run's own flags.
    #[error("gadget parameter {} collides with rig run's flag --{flag}; rename it in gadget.yaml", quote(.key, 80))]
    Collides {
        /// The parameter key.
        key: String,
        /// The run flag it collides with.
        flag: String,
    },
    /// The key cannot be a flag name.
    #[error("gadget parameter {} is not a valid flag name (letters, digits, '-', '_')", quote(.key, 80))]
    BadKey {
        /// The parameter key.
        key: String,
    },
    /// Two parameters share a key.
    #[error("gadget parameter {} is declared twice", quote(.key, 80))]
    Duplicate {
        /// The parameter key.
        key: String,
    },
}

/// Checks that every parameter key can be its own `--KEY` flag, before clap sees them (clap
/// panics on duplicate or mismatched arguments).
fn check_param_keys(gadget: &Gadget, common: &clap::Command) -> Result<(), ParamFlagError> {
    let mut seen = std::collections::BTreeSet::new();
    for p in &gadget.params {
        let key = p.key.as_str();
        let valid = !key.is_empty()
            && !key.starts_with('-')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(ParamFlagError::BadKey { key: key.to_owned() });
        }
        if let Some(a) = common
            .get_arguments()
            .find(|a| a.get_id().as_str() == key || a.get_long() == Some(key))
        {
            return Err(ParamFlagError::Collides {
                key: key.to_owned(),
                flag: a.get_long().unwrap_or(a.get_id().as_str()).to_owned(),
            });
        }
        if !seen.insert(key) {
            return Err(ParamFlagError::Duplicate { key: key.to_owned() });
        }
    }
    Ok(())
}

fn gadget_command(name: &str, gadget: &Gadget) -> Result<clap::Command, ParamFlagError> {
    let mut cmd = common_flags(
        clap::Command::new(format!("rig run {name}"))
            .no_binary_name(true)
            .disable_help_flag(true)
            .about(gadget.metadata.description.clone()),
    );
    if gadget
        .datasources
        .iter()
        .any(|d| matches!(d.kind, rig_host::ebpf::DatasourceKind::MapIter { .. }))
    {
        cmd = cmd.args(map_fetch_flags());
    }
    check_param_keys(gadget, &cmd)?;
    for p in &gadget.params {
        let mut help = format!("{} [{}]", p.description, p.type_name());
        if let Some(d) = &p.default {
            help.push_str(&format!(" (default {d})"));
        }
        let mut arg = Arg::new(p.key.clone())
            .long(p.key.clone())
            .help(help)
            .help_heading("Gadget parameters");
        if p.ty == ParamType::Bool {
            arg = arg.num_args(0..=1).require_equals(true).default_missing_value("true");
        } else {
            // `--pid -5` is a value (checked against the type later), not an unknown flag.
            arg = arg.allow_negative_numbers(true);
        }
        cmd = cmd.arg(arg);
    }
    Ok(cmd)
}

/// IG's map iterator flags, offered when the gadget has a `GADGET_MAPITER`.
fn map_fetch_flags() -> Vec<Arg> {
    let heading = "Map iterators";
    vec![
        Arg::new("map-fetch-interval")
            .long("map-fetch-interval")
            .value_parser(|s: &str| match s.trim() {
                "0" => Ok(Duration::ZERO),
                t => parse_duration(t),
            })
            .help_heading(heading)
            .help("Interval in which to fetch (and empty) the gadget's maps: 500ms, 2s; 0 = only once or at the end (default 1000ms)"),
        Arg::new("map-fetch-count")
            .long("map-fetch-count")
            .value_parser(|s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{} must be a whole number ≥ 0", quote(s, 40)))
            })
            .help_heading(heading)
            .help("Number of map fetches before the run ends; 0 = unlimited (default 0)"),
    ]
}

/// The map iterator flags' values (absent when the gadget has no map iterator).
fn map_fetch(m: &ArgMatches) -> rig_host::run::MapFetchOptions {
    let has = |id: &str| m.ids().any(|i| i.as_str() == id);
    rig_host::run::MapFetchOptions {
        interval: has("map-fetch-interval")
            .then(|| m.get_one::<Duration>("map-fetch-interval").copied())
            .flatten(),
        count: has("map-fetch-count")
            .then(|| m.get_one::<u64>("map-fetch-count").copied())
            .flatten(),
    }
}

fn options(gadget: &Gadget, m: &ArgMatches, images: ImageOptions) -> anyhow::Result<RunOptions> {
    let output: OutputFormat = m
        .get_one::<String>("output")
        .map(String::as_str)
        .unwrap_or("columns")
        .parse()?;
    let fields = m.get_one::<String>("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let timeout = m.get_one::<Duration>("timeout").copied();
    let mut params = BTreeMap::new();
    for p in &gadget.params {
        if let Some(v) = m.get_one::<String>(&p.key) {
            params.insert(p.key.clone(), v.clone());
        }
    }
    Ok(RunOptions {
        params,
        output,
        fields,
        timeout,
        operators: operator_options(m, images)?,
        // Discovery starts inside the runtime (see `execute`).
        containers: None,
        selector: super::select::SelectorArgs::from_matches(m)?,
        map_fetch: map_fetch(m),
    })
}

/// The first Ctrl-C or SIGTERM stops the run cleanly (it drains within a bound); a second one
/// exits at once with the shell's code for the signal (130 for SIGINT, 143 for SIGTERM).
async fn stop_on_signals(stop: tokio::sync::watch::Sender<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::warn!("cannot listen for SIGINT/SIGTERM; stop the run with --timeout");
        return;
    };
    let mut first = true;
    loop {
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        if !first {
            std::process::exit(code);
        }
        first = false;
        tracing::info!("stopping (send the signal again to exit at once)");
        let _ = stop.send(true);
    }
}

impl RunCmd {
    /// Resolves the gadget, parses its flags and runs it until Ctrl-C, the timeout, or the end.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let usage = || common_flags(clap::Command::new("rig run <GADGET>").disable_help_flag(true));
        let Some(name) = self.gadget else {
            eprintln!("error: rig run needs a gadget: a bundled name (see `rig gadgets`), a folder or a .bpf.o file\n");
            eprintln!("{}", usage().render_help());
            return Ok(ExitCode::from(2));
        };
        if name == "-h" || name == "--help" {
            usage().print_help()?;
            return Ok(ExitCode::SUCCESS);
        }
        if name.starts_with('-') {
            eprintln!(
                "error: rig run needs the gadget before its flags: rig run GADGET {} (see `rig run --help`)",
                quote(&name, 80)
            );
            return Ok(ExitCode::from(2));
        }
        let images = super::image::image_options(&self.args)?;
        let gadget = rig_host::gadget::resolve_with(&name, &images)?;
        let matches = match gadget_command(&name, &gadget)?.try_get_matches_from(&self.args) {
            Ok(m) => m,
            Err(e) => return Ok(super::print_clap_error(&e)),
        };
        let mut opts = options(&gadget, &matches, images)?;
        let discovery =
            <super::containers::RuntimeArgs as clap::FromArgMatches>::from_arg_matches(&matches)?.config()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let report = rt.block_on(async move {
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(stop_on_signals(stop_tx));
            if let Some(config) = discovery {
                opts.containers = Some(rig_host::containers::spawn(config));
            }
            rig_host::run::run(&gadget, &opts, Box::new(std::io::stdout()), stop_rx).await
        });
        // A stage stuck in a blocking write must not keep the process alive.
        rt.shutdown_timeout(Duration::from_millis(200));
        // The warnings below and main's error line use eprintln!, which panics on a closed pipe.
        rig_host::sinks::stderr::guard();
        let report = report?;
        if matches.get_flag("stats") {
            print_stats(&report);
        }
        if report.source.lost > 0 {
            eprintln!(
                "warning: {} events were lost in the kernel (ring buffer full)",
                report.source.lost
            );
        }
        for n in &report.graph.nodes {
            if n.errors > 0 {
                eprintln!(
                    "warning: node {} dropped {} events in {} failed batches",
                    n.node, n.events_lost, n.errors
                );
            }
        }
        tracing::info!(events = report.source.events, lost = report.source.lost, stopped = ?report.stopped, "run finished");
        match (report.stopped, report.graph.fatal) {
            // `rig … | head`: the reader went away, a normal end.
            (StopReason::StageFailed, Some(fatal)) if fatal.is_output_closed() => Ok(ExitCode::SUCCESS),
            (StopReason::StageFailed, Some(fatal)) => anyhow::bail!("{fatal}"),
            _ => Ok(ExitCode::SUCCESS),
        }
    }
}
