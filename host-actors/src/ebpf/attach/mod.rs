//! The attach types beyond tracepoints and iterators: socket filters and tc classifiers
//! ([`net`], through IG's netns dispatcher built in [`sys`]), uprobes/uretprobes ([`uprobe`]) and
//! perf events ([`perf`]).
//!
//! [`super::load`] verifies every program and then calls [`attach`] for the kinds here. What
//! these hooks hold (raw sockets, TCX links, dispatchers) lives in [`Attachments`], which the
//! loaded gadget owns, so dropping it detaches them; uprobe and perf links live in the aya
//! program as the other kinds' links do. [`AttachOptions`] says where networking programs go
//! (the watched network namespaces, rig's own first) and how perf events sample.

pub mod net;
pub mod perf;
pub mod sections;
pub mod sys;
pub mod uprobe;

use std::os::fd::AsFd;
use std::path::PathBuf;

use aya::programs::{Program, ProgramError};

pub use super::load::chain;

/// Why a program could not be attached to one of these hooks.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// A network namespace file could not be read.
    #[error("cannot open network namespace {}: {source}", path.display())]
    Netns {
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something failed inside a network namespace (entering it, opening a socket, listing its
    /// interfaces).
    #[error("in {netns}: {source}")]
    InNetns {
        /// The namespace.
        netns: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The program array the dispatchers call through could not be made.
    #[error("cannot create the dispatcher's program array: {0}")]
    ProgArray(#[source] std::io::Error),
    /// The netns dispatcher was refused by the kernel.
    #[error("cannot load the netns dispatcher: {0}")]
    Dispatcher(#[source] std::io::Error),
    /// `SO_ATTACH_BPF` failed.
    #[error("cannot attach to the raw socket in {netns}: {source}")]
    SocketFilter {
        /// The namespace.
        netns: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A classifier section that names neither ingress nor egress.
    #[error("a classifier section must be classifier/ingress/NAME or classifier/egress/NAME")]
    ClassifierDirection,
    /// No interface of a namespace took the classifier.
    #[error("no interface in {netns} accepted the classifier (see the warnings above)")]
    NoInterface {
        /// The namespace.
        netns: String,
    },
    /// A uprobe section that is not `uprobe/LIB:SYMBOL`.
    #[error("{section}: a uprobe section must be uprobe/LIBRARY:SYMBOL or uprobe//ABSOLUTE/PATH:SYMBOL")]
    UprobeSection {
        /// The section.
        section: String,
    },
    /// The library a uprobe names is nowhere.
    #[error("library {library} not found (searched {searched})")]
    LibraryNotFound {
        /// The library.
        library: String,
        /// What was searched.
        searched: String,
    },
    /// aya could not attach a uprobe to any copy of the library.
    #[error("cannot probe {symbol} in {files}: {}", chain(source))]
    Uprobe {
        /// The symbol.
        symbol: String,
        /// The files tried.
        files: String,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// The online CPUs could not be read.
    #[error("cannot read the online CPUs: {0}")]
    Cpus(#[source] std::io::Error),
    /// A perf event could not be opened or attached on a CPU.
    #[error("cannot sample CPU {cpu} (software CPU clock): {}", chain(source))]
    PerfEvent {
        /// The CPU.
        cpu: u32,
        /// aya's error.
        #[source]
        source: Box<ProgramError>,
    },
    /// A sampling frequency of zero.
    #[error("the sampling frequency is zero")]
    ZeroFrequency,
    /// The program is not loaded (no fd).
    #[error("the program is not loaded: {}", chain(.0))]
    NotLoaded(#[source] Box<ProgramError>),
}

/// Where networking programs attach and how perf events sample.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Network namespaces beyond rig's own (which always comes first).
    pub extra_netns: Vec<PathBuf>,
    /// Perf-event sampling.
    pub sampling: perf::Sampling,
}

/// What the hooks here hold; dropping it detaches them.
#[derive(Debug, Default)]
pub struct Attachments {
    net: Vec<net::NetAttachment>,
}

/// What attaching one program did.
#[derive(Debug)]
pub enum Outcome {
    /// Attached; the text says where.
    Attached(String),
    /// Not attached, and that is not an error (a uprobe's library is missing); the error says why.
    Skipped(AttachError),
}

/// The network namespaces to attach in: rig's own, then the extra ones.
fn watched(opts: &AttachOptions) -> Result<Vec<net::WatchedNetns>, AttachError> {
    let mut out = vec![net::WatchedNetns::own()?];
    for p in &opts.extra_netns {
        let ns = net::WatchedNetns::at(p.clone())?;
        if !out.iter().any(|o| o.inode == ns.inode) {
            out.push(ns);
        }
    }
    Ok(out)
}

/// True for the program kinds [`attach`] handles.
pub fn handles(prog: &Program) -> bool {
    matches!(
        prog,
        Program::SocketFilter(_) | Program::SchedClassifier(_) | Program::UProbe(_) | Program::PerfEvent(_)
    )
}

/// Attaches one loaded program of a kind [`handles`] accepts.
pub fn attach(
    prog: &mut Program,
    section: &str,
    opts: &AttachOptions,
    into: &mut Attachments,
) -> Result<Outcome, AttachError> {
    match prog {
        Program::SocketFilter(p) => {
            let fd = p.fd().map_err(|e| AttachError::NotLoaded(Box::new(e)))?;
            let a = net::socket_filter(fd.as_fd(), &watched(opts)?)?;
            let at = a.places.join(", ");
            into.net.push(a);
            Ok(Outcome::Attached(at))
        }
        Program::SchedClassifier(p) => {
            let direction = net::classifier_direction(section).ok_or(AttachError::ClassifierDirection)?;
            let fd = p.fd().map_err(|e| AttachError::NotLoaded(Box::new(e)))?;
            let a = net::classifier(fd.as_fd(), direction, &watched(opts)?)?;
            let at = format!("{} interface(s)", a.places.len());
            into.net.push(a);
            Ok(Outcome::Attached(at))
        }
        Program::UProbe(p) => match uprobe::attach(p, section)? {
            uprobe::UprobeOutcome::Attached(files) => Ok(Outcome::Attached(
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            uprobe::UprobeOutcome::Skipped(why) => Ok(Outcome::Skipped(why)),
        },
        Program::PerfEvent(p) => {
            let n = perf::attach(p, opts.sampling)?;
            Ok(Outcome::Attached(format!(
                "{n} CPU(s) at {} Hz",
                opts.sampling.frequency
            )))
        }
        _ => Ok(Outcome::Attached(String::new())),
    }
}
