//! `rig image …`, `rig login`/`rig logout`, and the image flags of `rig run`: thin shells over
//! `rig_host::registry`. Progress bars are drawn only when stderr is a terminal; in pipes the
//! commands print their result lines and nothing else.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Arg, ArgAction, Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rig_host::registry::image::{self, BuildOptions};
use rig_host::registry::oci::{self, Manifest};
use rig_host::registry::remote::{self, Progress};
use rig_host::registry::store::{self, Removed};
use rig_host::registry::{ImageOptions, ImageRef, PullPolicy, RemoteOptions, Store, export, sign};
use rig_kernel::input::{escape_control, quote, shorten};

/// Where the store is.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Local image store (an OCI image layout); default /var/lib/rig/oci-store as root, else ~/.rig/oci-store.
    #[arg(long, env = "RIG_STORE", global = true)]
    store: Option<PathBuf>,
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(self.store.clone().unwrap_or_else(store::default_path))?)
    }
}

/// How to reach registries.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Registries (host:port) to reach over plain HTTP; loopback hosts always are.
    #[arg(long, value_delimiter = ',', env = "RIG_INSECURE_REGISTRIES")]
    insecure_registries: Vec<String>,
    /// Docker-style credentials file (default $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(long, env = "RIG_AUTH_FILE")]
    authfile: Option<PathBuf>,
}

impl RemoteArgs {
    fn options(&self) -> RemoteOptions {
        RemoteOptions {
            insecure_registries: self.insecure_registries.clone(),
            auth_file: self.authfile.clone(),
            progress: bar(),
        }
    }
}

/// `rig image`.
#[derive(Debug, Args)]
pub struct ImageCmd {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: ImageSub,
}

/// The image subcommands.
#[derive(Debug, Subcommand)]
enum ImageSub {
    /// Build a gadget folder (or a .wasm operator component) into an image in the local store.
    Build {
        /// Gadget folder with program.bpf.c and gadget.yaml, or an operator's .wasm file.
        path: Option<PathBuf>,
        /// Name the image (repeatable); default: the folder name with tag latest.
        #[arg(short = 't', long = "tag")]
        tags: Vec<String>,
        /// build.yaml to use instead of PATH/build.yaml.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// Create or update gadget.yaml from the object's BTF instead of refusing mismatches.
        #[arg(long)]
        update_metadata: bool,
        /// Do not check gadget.yaml against the object.
        #[arg(long)]
        no_validate: bool,
        /// Build every gadget bundled with rig, as NAME:latest.
        #[arg(long, conflicts_with_all = ["path", "tags"])]
        bundled: bool,
    },
    /// List the images in the local store.
    #[command(alias = "ls")]
    List {
        /// Show full digests.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Show an image's index, manifest and annotations as JSON.
    Inspect {
        /// The image.
        image: String,
    },
    /// Give an image another name.
    Tag {
        /// Existing image.
        src: String,
        /// New name.
        dst: String,
    },
    /// Remove images (untag if the digest has other names, else delete and garbage-collect).
    #[command(alias = "rm")]
    Remove {
        /// The images.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Push an image (and its signature, if the store has one) to its registry.
    Push {
        /// The image.
        image: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Pull an image from its registry into the local store.
    Pull {
        /// The image.
        image: String,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Write images as an OCI image layout tarball: export SRC… DST.tar.
    Export {
        /// Images, then the tarball.
        #[arg(required = true, num_args = 2..)]
        args: Vec<String>,
    },
    /// Import every image of an OCI image layout tarball.
    Import {
        /// The tarball.
        src: PathBuf,
    },
    /// Sign an image with a P-256 key (cosign format) and upload the signature.
    Sign {
        /// The image.
        image: String,
        /// Private key (PEM, PKCS#8 or SEC1).
        #[arg(long)]
        key: PathBuf,
        /// Only record the signature in the local store (`rig image push` uploads it later).
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Check an image's signature in the local store against public keys.
    Verify {
        /// The image.
        image: String,
        /// Public keys (PEM), comma-separated or repeated.
        #[arg(long = "public-keys", alias = "key", value_delimiter = ',', required = true)]
        public_keys: Vec<PathBuf>,
    },
    /// Generate a P-256 key pair: PREFIX.key (private) and PREFIX.pub.
    Keygen {
        /// Path prefix of the files.
        #[arg(default_value = "cosign")]
        prefix: PathBuf,
    },
}

/// Signature checking on pull.
#[derive(Debug, Args)]
struct VerifyArgs {
    /// Refuse the image unless signed by one of --public-keys (default: on when keys are given).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    verify_image: Option<bool>,
    /// Trusted public keys (PEM), comma-separated or repeated.
    #[arg(long, value_delimiter = ',', env = "RIG_PUBLIC_KEYS")]
    public_keys: Vec<PathBuf>,
}

/// `rig login REGISTRY`.
#[derive(Debug, Args)]
pub struct LoginCmd {
    /// Registry host (host:port).
    registry: String,
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Password (prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Credentials file.
    #[arg(long, env = "RIG_AUTH_FILE")]
    authfile: Option<PathBuf>,
}

/// `rig logout REGISTRY`.
#[derive(Debug, Args)]
pub struct LogoutCmd {
    /// Registry host (host:port).
    registry: String,
    /// Credentials file.
    #[arg(long, env = "RIG_AUTH_FILE")]
    authfile: Option<PathBuf>,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn begin(&self, what: &str, total: u64) {
        self.0.set_message(what.to_owned());
        self.0.set_length(total);
        self.0.set_position(0);
    }
    fn advance(&self, n: u64) {
        if self.0.length().unwrap_or(0) < self.0.position() + n {
            self.0.set_length(self.0.position() + n);
        }
        self.0.inc(n);
    }
    fn end(&self) {
        self.0.finish_and_clear();
    }
}

fn bar() -> Option<Arc<dyn Progress>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let p: Arc<dyn Progress> = Arc::new(Bar(pb));
    Some(p)
}

fn spinner(msg: String) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    Some(pb)
}

fn parse(s: &str) -> anyhow::Result<ImageRef> {
    Ok(ImageRef::parse(s)?)
}

impl ImageCmd {
    /// Runs the subcommand.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let store = self.store.open()?;
        match self.command {
            ImageSub::Build {
                path,
                tags,
                file,
                update_metadata,
                no_validate,
                bundled,
            } => {
                if bundled {
                    for name in rig_host::compile::bundled() {
                        let sp = spinner(format!("building {name}"));
                        let built = image::build_bundled(&store, name);
                        if let Some(sp) = sp {
                            sp.finish_and_clear();
                        }
                        if let Some((r, d)) = built.with_context(|| format!("building bundled gadget {name}"))? {
                            println!("{}\t{d}", r.short());
                        }
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                let Some(path) = path else {
                    bail!("rig image build needs a gadget folder, a .wasm file, or --bundled");
                };
                let opts = BuildOptions {
                    build_file: file,
                    update_metadata,
                    no_validate,
                    ..Default::default()
                };
                let sp = spinner(format!("building {}", path.display()));
                let operator = path.extension().is_some_and(|e| e == "wasm");
                let package = if operator {
                    image::package_operator(&path, &opts)
                } else {
                    image::package_gadget(&path, &opts)
                };
                if let Some(sp) = sp {
                    sp.finish_and_clear();
                }
                let package = package?;
                let mut refs = tags.iter().map(|t| parse(t)).collect::<anyhow::Result<Vec<_>>>()?;
                if refs.is_empty() {
                    // An operator is named as its author named it (operator.yaml, the stamp, or
                    // the file stem: see package_operator); a gadget after its folder.
                    let folder = || {
                        path.canonicalize()
                            .ok()
                            .and_then(|p| p.file_stem().map(|n| n.to_string_lossy().into_owned()))
                    };
                    let name = if operator && !package.name.is_empty() {
                        package.name.clone()
                    } else {
                        folder().unwrap_or_else(|| package.name.clone())
                    };
                    refs.push(
                        parse(&name)
                            .with_context(|| format!("{} is not a valid image name; pass -t", quote(&name, 80)))?,
                    );
                }
                let digest = image::commit(&store, &package, &refs)?;
                for r in &refs {
                    println!("{}\t{digest}", r.short());
                }
            }
            ImageSub::List { no_trunc } => list(&store, no_trunc)?,
            ImageSub::Inspect { image } => {
                let r = parse(&image)?;
                let desc = store.get(&r)?;
                let top: serde_json::Value = serde_json::from_slice(&store.read(&desc)?)?;
                let manifest = image::platform_manifest(&store, &r.to_string(), &desc)?;
                let out = serde_json::json!({
                    "reference": r.to_string(),
                    "digest": desc.digest,
                    "mediaType": desc.media_type,
                    "index": if desc.media_type == oci::MEDIA_INDEX { top } else { serde_json::Value::Null },
                    "manifest": manifest,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            ImageSub::Tag { src, dst } => {
                let (src, dst) = (parse(&src)?, parse(&dst)?);
                let desc = store.get(&src)?;
                let lock = store.lock()?;
                store.set_tag(&lock, &dst, &desc)?;
                println!("{}\t{}", dst.short(), desc.digest);
            }
            ImageSub::Remove { images } => {
                for i in images {
                    let r = parse(&i)?;
                    match store.remove(&r)? {
                        Removed::Untagged(d) => println!("untagged {} ({d})", r.short()),
                        Removed::Deleted { digest, blobs } => {
                            println!("deleted {} ({digest}, {blobs} blobs)", r.short())
                        }
                    }
                }
            }
            ImageSub::Push { image, remote } => {
                let r = parse(&image)?;
                let digest = remote::block_on(remote::push(&store, &r, &remote.options()))?;
                println!("{r}\t{digest}");
            }
            ImageSub::Pull { image, remote, verify } => {
                let r = parse(&image)?;
                let opts = ImageOptions {
                    verify: verify.verify_image,
                    public_keys: verify.public_keys,
                    ..Default::default()
                };
                let keys = if opts.verifying() {
                    let k = sign::load_public_keys(&opts.public_keys)?;
                    if k.is_empty() {
                        return Err(sign::SignError::NoKeys.into());
                    }
                    Some(k)
                } else {
                    None
                };
                let desc = remote::block_on(remote::pull(&store, &r, &remote.options(), keys.as_deref()))?;
                println!("{r}\t{}", desc.digest);
            }
            ImageSub::Export { mut args } => {
                let dst = PathBuf::from(args.pop().expect("clap requires two"));
                let refs = args.iter().map(|a| parse(a)).collect::<anyhow::Result<Vec<_>>>()?;
                let n = export::export(&store, &refs, &dst)?;
                eprintln!("exported {} images ({n} blobs) to {}", refs.len(), dst.display());
            }
            ImageSub::Import { src } => {
                for r in export::import(&store, &src)? {
                    println!("{}", r.short());
                }
            }
            ImageSub::Sign {
                image,
                key,
                local,
                remote,
            } => {
                let r = parse(&image)?;
                let key = sign::load_signing_key(&key)?;
                let sig = sign::sign(&store, &r, &key)?;
                if !local {
                    remote::block_on(remote::push_signature(&store, &r, &remote.options()))
                        .with_context(|| format!("the signature is in the local store; uploading {sig} failed"))?;
                }
                println!("{sig}");
            }
            ImageSub::Verify { image, public_keys } => {
                let r = parse(&image)?;
                let keys = sign::load_public_keys(&public_keys)?;
                let digest = sign::verify_local(&store, &r, &keys)?;
                println!("{r}\t{digest}\tverified");
            }
            ImageSub::Keygen { prefix } => {
                let (k, p) = sign::keygen(&prefix)?;
                eprintln!("private key written to {} (keep it secret)", k.display());
                println!("{}", p.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn list(store: &Store, no_trunc: bool) -> anyhow::Result<()> {
    let mut rows = vec![["REPOSITORY".to_owned(), "TAG".into(), "DIGEST".into(), "CREATED".into()]];
    for e in store.entries()? {
        let tag = e.reference.tag.clone().unwrap_or_default();
        if tag.starts_with("sha256-") && tag.ends_with(".sig") {
            continue;
        }
        let created = image::platform_manifest(store, &e.reference.to_string(), &e.descriptor)
            .ok()
            .and_then(|m: Manifest| m.annotations.get(oci::ANN_CREATED).cloned())
            .map(|c| shorten(&escape_control(&c), 40).into_owned())
            .unwrap_or_default();
        let digest = e
            .descriptor
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&e.descriptor.digest);
        let digest = if no_trunc {
            e.descriptor.digest.clone()
        } else {
            digest.chars().take(12).collect()
        };
        let short = e.reference.with_tag("x").short();
        let repo = short.strip_suffix(":x").unwrap_or(&short).to_owned();
        rows.push([repo, tag, digest, created]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}

impl LoginCmd {
    /// Stores the credentials.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let password = match (self.password, self.password_stdin) {
            (Some(p), _) => p,
            (None, true) => {
                let mut p = String::new();
                std::io::stdin().read_line(&mut p).context("reading the password")?;
                p.trim_end_matches(['\n', '\r']).to_owned()
            }
            (None, false) => bail!("give --password or --password-stdin"),
        };
        let opts = RemoteOptions {
            auth_file: self.authfile,
            ..Default::default()
        };
        let path = remote::login(&self.registry, &self.username, &password, &opts)?;
        eprintln!("credentials for {} saved in {}", self.registry, path.display());
        Ok(ExitCode::SUCCESS)
    }
}

impl LogoutCmd {
    /// Forgets the credentials.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let opts = RemoteOptions {
            auth_file: self.authfile,
            ..Default::default()
        };
        if !remote::logout(&self.registry, &opts)? {
            eprintln!("not logged in to {}", self.registry);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The image flags `rig run` accepts (see [`image_options`]).
pub fn run_flags(cmd: clap::Command) -> clap::Command {
    let bool_flag = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(clap::value_parser!(bool))
            .help(help)
            .help_heading("Image options")
    };
    let list = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .action(ArgAction::Append)
            .help(help)
            .help_heading("Image options")
    };
    cmd.arg(
        Arg::new("pull")
            .long("pull")
            .value_parser(["always", "missing", "never"])
            .help("When to pull the image: always, missing (default) or never")
            .help_heading("Image options"),
    )
    .arg(bool_flag(
        "verify-image",
        "Run only images signed by one of --public-keys (default: on when keys are given)",
    ))
    .arg(bool_flag("disallow-pulling", "Never contact a registry (offline)"))
    .arg(list("public-keys", "Trusted public keys (PEM files, comma-separated)"))
    .arg(list(
        "allowed-gadgets",
        "Images allowed to run: name:tag, name@sha256:…, or prefix* (comma-separated)",
    ))
    .arg(list(
        "insecure-registries",
        "Registries to reach over plain HTTP (comma-separated)",
    ))
    .arg(list("store", "Local image store").action(ArgAction::Set))
    .arg(list("authfile", "Docker-style credentials file").action(ArgAction::Set))
}

/// Reads the image flags out of `rig run`'s arguments (before the gadget, and so its own
/// flags, is known), on top of the environment's defaults.
pub fn image_options(args: &[String]) -> anyhow::Result<ImageOptions> {
    let mut opts = ImageOptions::from_env();
    let split = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{name} needs a value"))
        };
        let boolean = |v: &Option<String>| -> anyhow::Result<bool> {
            match v.as_deref() {
                None | Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(other) => bail!("{name}: expected true or false, got {}", quote(other, 40)),
            }
        };
        match name {
            "--pull" => opts.pull = value()?.parse::<PullPolicy>().map_err(anyhow::Error::msg)?,
            "--verify-image" => opts.verify = Some(boolean(&inline)?),
            "--disallow-pulling" => opts.disallow_pulling = boolean(&inline)?,
            "--public-keys" => opts.public_keys.extend(split(&value()?).into_iter().map(PathBuf::from)),
            "--allowed-gadgets" => opts.allowed_gadgets.extend(split(&value()?)),
            "--insecure-registries" => opts.remote.insecure_registries.extend(split(&value()?)),
            "--store" => opts.store = Some(PathBuf::from(value()?)),
            "--authfile" => opts.remote.auth_file = Some(PathBuf::from(value()?)),
            _ => {}
        }
    }
    if opts.store.is_none() {
        opts.store = std::env::var_os("RIG_STORE").map(PathBuf::from);
    }
    if std::io::stderr().is_terminal() {
        opts.remote.progress = bar();
    }
    Ok(opts)
}
