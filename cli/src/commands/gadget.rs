//! `rig gadget info NAME [-o table|json]`: what an operator author writes against.
//!
//! NAME is resolved exactly as `rig run NAME` resolves it (a bundled name, an image reference, a
//! folder or an object file; the same image flags apply), and described by
//! [`rig_host::info::GadgetInfo`] without loading anything into the kernel: every datasource,
//! every field as an operator's `init` receives it, and the parameters. The table form is for
//! people (text from gadget.yaml has its control bytes escaped); `-o json` is the stable document.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use rig_host::info::{DatasourceInfo, GadgetInfo};
use rig_kernel::input::escape_control;

/// `rig gadget …`.
#[derive(Debug, Args)]
pub struct GadgetCmd {
    /// What to do.
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Show a gadget's datasources, their fields (kind, offset, size, heap or inline, hidden,
    /// tags, annotations: the schema an operator's init receives) and its parameters.
    Info(InfoArgs),
}

/// How `rig gadget info` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Tables for people.
    Table,
    /// One JSON document (stable field names).
    Json,
}

#[derive(Debug, Args)]
struct InfoArgs {
    /// The gadget: a bundled name (trace_open), an image reference, a folder or a .bpf.o file.
    name: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Image flags, as for `rig run`: --pull, --store, --public-keys, --verify-image, …
    #[arg(value_name = "IMAGE FLAGS", trailing_var_arg = true, allow_hyphen_values = true)]
    image_flags: Vec<String>,
}

impl GadgetCmd {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Info(args) => args.execute(),
        }
    }
}

impl InfoArgs {
    fn execute(self) -> anyhow::Result<ExitCode> {
        // The image flags are `rig run`'s: checked by the same clap definition, read the same way
        // (an `-o` among them is this command's).
        let check = super::image::run_flags(clap::Command::new("rig gadget info NAME").no_binary_name(true)).arg(
            clap::Arg::new("output")
                .short('o')
                .long("output")
                .value_parser(clap::value_parser!(Format)),
        );
        let output = match check.try_get_matches_from(&self.image_flags) {
            Ok(m) => m.get_one::<Format>("output").copied().unwrap_or(self.output),
            Err(e) => return Ok(super::print_clap_error(&e)),
        };
        let images = super::image::image_options(&self.image_flags)?;
        let gadget = rig_host::gadget::resolve_with(&self.name, &images)?;
        let info = GadgetInfo::new(&self.name, &gadget);
        let text = match output {
            Format::Json => format!("{}\n", serde_json::to_string_pretty(&info)?),
            Format::Table => render(&info),
        };
        use std::io::Write as _;
        match std::io::stdout().lock().write_all(text.as_bytes()) {
            // `rig gadget info … | head`: the reader went away, a normal end.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(ExitCode::SUCCESS),
        }
    }
}

/// The table form of `info`.
fn render(info: &GadgetInfo) -> String {
    let mut out = format!("gadget {}", escape_control(&info.gadget));
    if !info.name.is_empty() && info.name != info.gadget {
        out.push_str(&format!(" ({})", escape_control(&info.name)));
    }
    if !info.description.is_empty() {
        out.push_str(&format!(": {}", escape_control(&info.description)));
    }
    out.push('\n');
    for ds in &info.datasources {
        out.push('\n');
        out.push_str(&datasource(ds));
    }
    out.push_str("\nparameters");
    if info.params.is_empty() {
        out.push_str(": none\n");
        return out;
    }
    out.push('\n');
    let mut rows = vec![super::cells(["FLAG", "TYPE", "DEFAULT", "DESCRIPTION"])];
    for p in &info.params {
        rows.push(vec![
            format!("--{}", escape_control(&p.name)),
            p.ty.clone(),
            p.default
                .as_deref()
                .map_or("-".into(), |d| escape_control(d).into_owned()),
            escape_control(&p.description).into_owned(),
        ]);
    }
    out.push_str(&super::table(&rows, &[]));
    out
}

fn datasource(ds: &DatasourceInfo) -> String {
    let mut out = format!(
        "datasource {} ({}): {}-byte rows; bytes 0..{} are the kernel's record, heap slots follow\n",
        escape_control(&ds.name),
        ds.role.as_str(),
        ds.row_size,
        ds.raw_size
    );
    for (k, v) in &ds.annotations {
        out.push_str(&format!("  {}={}\n", escape_control(k), escape_control(v)));
    }
    let mut rows = vec![super::cells([
        "FIELD",
        "KIND",
        "OFFSET",
        "SIZE",
        "STORAGE",
        "HIDDEN",
        "TAGS",
        "ANNOTATIONS",
    ])];
    for f in &ds.fields {
        let annotations: Vec<String> = f
            .annotations
            .iter()
            .map(|(k, v)| format!("{}={}", escape_control(k), escape_control(v)))
            .collect();
        rows.push(vec![
            escape_control(&f.name).into_owned(),
            f.kind.wit_name().to_owned(),
            f.offset.to_string(),
            f.size.to_string(),
            if f.heap { "heap slot" } else { "inline" }.to_owned(),
            if f.hidden { "yes" } else { "-" }.to_owned(),
            escape_control(&f.tags.join(",")).into_owned(),
            annotations.join(" "),
        ]);
    }
    out.push_str(&super::table(&rows, &[2, 3]));
    out
}
