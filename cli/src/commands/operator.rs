//! `rig operator new` and `rig operator build`: start an operator project from a template, and
//! build one into a checked component.
//!
//! The templates (`operators/templates/<lang>/`) and the WIT contract (`wit/operator.wit`) are
//! embedded in the binary, so `rig operator new` works wherever `rig` is installed and the new
//! project is self-contained: it carries its own copy of the contract in `wit/`, and its name in
//! `operator.yaml` ([`rig_host::authoring`]). Every template has a `build.sh [OUT.wasm]`; `rig
//! operator build DIR` runs it (writing `DIR/NAME.wasm` by default), stamps the recorded name into
//! the component, and then loads the result through rig's own WebAssembly host, which refuses
//! anything that is not a component exporting `rig:operator/operator` of a compatible version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use rig_host::authoring::{self, OperatorName};

/// `rig operator …`.
#[derive(Debug, Args)]
pub struct OperatorCmd {
    /// What to do.
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Create an operator project from a template: a pass-through operator, its build script,
    /// a copy of the WIT contract and operator.yaml recording NAME.
    New {
        /// Language of the operator.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Operator name: lowercase letters, digits and dashes, starting with a letter. The
        /// component, its node in a run and its image are named after it.
        name: String,
        /// Directory to create (default: ./NAME). It must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build the operator project in DIR (runs DIR/build.sh), stamp its name into the component
    /// and check that the result is a rig operator.
    Build {
        /// The project directory, as `rig operator new` created it (default name: ./NAME).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Where to write the component (default: DIR/NAME.wasm, NAME from DIR/operator.yaml;
        /// without one, DIR/<DIR's folder name>.wasm).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

/// Languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust: wit-bindgen, cargo build --target wasm32-wasip2.
    Rust,
    /// Python: componentize-py.
    Python,
    /// JavaScript: componentize-js.
    Js,
    /// C: wit-bindgen c, clang (wasi-libc), wasm-tools component new.
    C,
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        })
    }
}

/// One file of a template: its path in the new project and its text (with `@NAME@` and
/// `@CRATE@` placeholders).
type TemplateFile = (&'static str, &'static str);

/// The contract every new project carries in `wit/operator.wit`.
const WIT: &str = include_str!("../../../wit/operator.wit");

macro_rules! template {
    ($($dest:literal => $src:literal),* $(,)?) => {
        &[$(($dest, include_str!(concat!("../../../operators/templates/", $src)))),*]
    };
}

const RUST: &[TemplateFile] = template! {
    "Cargo.toml" => "rust/Cargo.toml.tmpl",
    "rust-toolchain.toml" => "rust/rust-toolchain.toml",
    "src/lib.rs" => "rust/src/lib.rs",
    "build.sh" => "rust/build.sh",
    ".gitignore" => "rust/gitignore",
};

const PYTHON: &[TemplateFile] = template! {
    "app.py" => "python/app.py",
    "rig_operator.py" => "python/rig_operator.py",
    "build.sh" => "python/build.sh",
    "build-cache.sh" => "build-cache.sh",
    ".gitignore" => "python/gitignore",
};

const JS: &[TemplateFile] = template! {
    "operator.js" => "js/operator.js",
    "rig-operator.js" => "js/rig-operator.js",
    "package.json" => "js/package.json.tmpl",
    "build.sh" => "js/build.sh",
    "build-cache.sh" => "build-cache.sh",
    ".gitignore" => "js/gitignore",
};

const C: &[TemplateFile] = template! {
    "operator.c" => "c/operator.c",
    "build.sh" => "c/build.sh",
    ".gitignore" => "c/gitignore",
};

impl Lang {
    fn template(self) -> &'static [TemplateFile] {
        match self {
            Lang::Rust => RUST,
            Lang::Python => PYTHON,
            Lang::Js => JS,
            Lang::C => C,
        }
    }

    /// Guesses the language of a project from the files in it.
    fn detect(dir: &Path) -> Option<Lang> {
        let has = |name: &str| dir.join(name).is_file();
        let has_ext = |ext: &str| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == ext) && e.path().is_file())
        };
        if has("Cargo.toml") {
            Some(Lang::Rust)
        } else if has("package.json") {
            Some(Lang::Js)
        } else if has_ext("c") {
            Some(Lang::C)
        } else if has("app.py") || has_ext("py") {
            Some(Lang::Python)
        } else {
            None
        }
    }

    /// What the build script needs, for the message when it fails.
    fn needs(self) -> &'static str {
        match self {
            Lang::Rust => "cargo with the wasm32-wasip2 target",
            Lang::Python => "componentize-py 0.25.1 (pip)",
            Lang::Js => "node and npm (componentize-js 0.23.0 is installed by the build)",
            Lang::C => "clang-19, lld-19, wasi-libc, libclang-rt-19-dev-wasm32, wit-bindgen 0.63 and wasm-tools 1.263",
        }
    }
}

impl OperatorCmd {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::New { lang, name, dir } => {
                let name = OperatorName::parse(&name)?;
                let dir = dir.unwrap_or_else(|| PathBuf::from(name.as_str()));
                let files = create(lang, &name, &dir)?;
                println!("created {} ({lang} operator {name}):", dir.display());
                for f in files {
                    println!("  {f}");
                }
                println!("build it with: rig operator build {}", dir.display());
                Ok(ExitCode::SUCCESS)
            }
            Action::Build { dir, out } => {
                let (built, name) = build(&dir, out.as_deref())?;
                let size = std::fs::metadata(&built).map(|m| m.len()).unwrap_or_default();
                validate_component(&built)?;
                let named = match name {
                    Some(n) => format!(" named {n}"),
                    None => String::new(),
                };
                println!(
                    "{} ({} KiB): a rig operator{named}",
                    built.display(),
                    size.div_ceil(1024)
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// The text of a template file for operator `name`.
fn render(text: &str, name: &str) -> String {
    text.replace("@NAME@", name).replace("@CRATE@", &name.replace('-', "_"))
}

/// Writes a new project; returns the files written, relative to `dir`.
fn create(lang: Lang, name: &OperatorName, dir: &Path) -> anyhow::Result<Vec<String>> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            bail!("{} already exists and is not empty", dir.display());
        }
    }
    let mut written = Vec::new();
    let files = lang.template().iter().map(|(p, t)| (*p, render(t, name.as_str())));
    let extra = [
        ("wit/operator.wit", WIT.to_owned()),
        (authoring::RECORD_FILE, authoring::record_text(name)),
    ];
    for (rel, text) in files.chain(extra) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        if rel.ends_with(".sh") {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("making {} executable", path.display()))?;
            }
        }
        written.push(rel.to_owned());
    }
    Ok(written)
}

/// Runs `DIR/build.sh OUT` and stamps the recorded name into OUT; returns OUT and that name.
fn build(dir: &Path, out: Option<&Path>) -> anyhow::Result<(PathBuf, Option<OperatorName>)> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("operator project {}", dir.display()))?;
    let lang = Lang::detect(&dir).with_context(|| {
        format!(
            "{}: cannot tell the operator's language (expected Cargo.toml, package.json, a .c file or app.py)",
            dir.display()
        )
    })?;
    let script = dir.join("build.sh");
    if !script.is_file() {
        bail!("{}: no build.sh (every operator template has one)", dir.display());
    }
    let name = authoring::recorded_name(&dir)?;
    let out = match out {
        Some(o) => std::path::absolute(o).with_context(|| format!("output path {}", o.display()))?,
        None => authoring::default_output(&dir)?,
    };
    eprintln!("building {} ({lang}) …", dir.display());
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .current_dir(&dir)
        .status()
        .with_context(|| "cannot run bash")?;
    if !status.success() {
        bail!(
            "{} failed ({status}); a {lang} operator needs {}",
            script.display(),
            lang.needs()
        );
    }
    if !out.is_file() {
        bail!("{} succeeded but wrote no {}", script.display(), out.display());
    }
    if let Some(name) = &name {
        authoring::stamp_file(&out, name)?;
    }
    Ok((out, name))
}

/// Checks that `path` is a component rig can run as an operator: loads it through rig's
/// WebAssembly host, which checks the header, compiles it (cached), checks that it exports
/// `rig:operator/operator` of a compatible version and imports only what rig provides.
fn validate_component(path: &Path) -> anyhow::Result<()> {
    use rig_host::wasm::{OperatorHost, OperatorSource};
    let host = OperatorHost::new(None)?;
    host.load(&OperatorSource::File(path.to_path_buf()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_without_placeholders() {
        let tmp = tempfile::tempdir().unwrap();
        let name = OperatorName::parse("my-op").unwrap();
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let dir = tmp.path().join(lang.to_string());
            let files = create(lang, &name, &dir).unwrap();
            assert!(files.contains(&"build.sh".to_owned()) && files.contains(&"wit/operator.wit".to_owned()));
            // The name is recorded, and names the default output whatever the folder is called.
            assert_eq!(authoring::recorded_name(&dir).unwrap(), Some(name.clone()));
            assert_eq!(authoring::default_output(&dir).unwrap(), dir.join("my-op.wasm"));
            for f in &files {
                let text = std::fs::read_to_string(dir.join(f)).unwrap();
                assert!(!text.contains("@NAME@") && !text.contains("@CRATE@"), "{lang}: {f}");
            }
            assert_eq!(Lang::detect(&dir), Some(lang));
            // A second `new` into the same place is refused.
            assert!(create(lang, &name, &dir).is_err());
        }
        let cargo = std::fs::read_to_string(tmp.path().join("rust/Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"my-op\""));
        let build = std::fs::read_to_string(tmp.path().join("rust/build.sh")).unwrap();
        assert!(build.contains("my_op.wasm"));
    }

    #[test]
    fn bad_names_are_refused() {
        let e = OperatorName::parse("Bad").unwrap_err();
        assert!(e.to_string().contains("invalid operator name"), "{e}");
    }
}
