//! The socket enricher: which process owns the socket behind a packet.
//!
//! IG's networking gadgets (trace_dns, trace_sni, advise_networkpolicy, tcpdump…) look up the
//! socket of each packet in the map `gadget_sockets` (`<gadget/sockets-map.h>`) and copy its owner
//! — pid, tid, comm, parent, mount namespace, uid/gid — into their events. IG's runtime fills
//! that map from kprobes; rig loads its own helper program (`gadgets/helpers/socket_enricher`,
//! tracepoints only: `net_dev_queue` and the exits of bind/listen/connect/sendto/sendmsg) next to
//! any gadget that declares the map. The helper creates the map pinned in a private bpffs, the
//! gadget is loaded against that pin and so shares it, and the pin goes as soon as the gadget
//! holds the map; dropping the [`SocketEnricher`] detaches the helper.

use std::path::PathBuf;

use crate::compile::{self, CompileError};
use crate::containers::filter::PinDir;
use crate::ebpf::load::{self, LoadError, Loaded};
use crate::ebpf::object::{GadgetObject, ObjectError};

/// The map the gadget and the enricher share.
pub const SOCKETS_MAP: &str = "gadget_sockets";

/// Why the socket enricher could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketEnricherError {
    /// The helper program could not be built.
    #[error("socket enricher: {0}")]
    Compile(#[from] CompileError),
    /// The helper's object is malformed (a build bug).
    #[error("socket enricher: {0}")]
    Object(#[from] ObjectError),
    /// The helper did not load or attach.
    #[error("socket enricher: {0}")]
    Load(#[from] LoadError),
    /// The private bpffs could not be mounted.
    #[error("socket enricher: cannot mount a bpffs at {path}: {source}")]
    Mount {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The loaded helper and, until the gadget holds the map, its pin.
#[derive(Debug)]
pub struct SocketEnricher {
    _hook: Loaded,
    pins: Option<PinDir>,
}

impl SocketEnricher {
    /// Whether `object` reads the socket map (and so needs the enricher).
    pub fn wanted(object: &GadgetObject) -> bool {
        use object::{Object as _, ObjectSymbol as _};
        object::File::parse(object.bytes.as_slice())
            .is_ok_and(|elf| elf.symbols().any(|s| s.name() == Ok(SOCKETS_MAP)))
    }

    /// Builds, loads and attaches the helper; the map it creates is pinned at
    /// [`SocketEnricher::pin_path`] until [`SocketEnricher::unpin`].
    pub fn load() -> Result<Self, SocketEnricherError> {
        let obj_path = compile::helper("socket_enricher")?;
        let bytes = std::fs::read(&obj_path).map_err(|source| CompileError::Io {
            path: obj_path.display().to_string(),
            source,
        })?;
        let object = GadgetObject::parse_helper(bytes, &obj_path.display().to_string())?;
        let pins = PinDir::mount(SOCKETS_MAP).map_err(|(path, source)| SocketEnricherError::Mount { path, source })?;
        let hook = load::load_pinned(&object, &Default::default(), &[(SOCKETS_MAP, pins.path().as_path())])?;
        Ok(SocketEnricher {
            _hook: hook,
            pins: Some(pins),
        })
    }

    /// Where the map is pinned, for the gadget's loader.
    pub fn pin_path(&self) -> Option<PathBuf> {
        self.pins.as_ref().map(PinDir::path)
    }

    /// Removes the pin and the private bpffs (the gadget and the helper keep the map open).
    pub fn unpin(&mut self) {
        self.pins = None;
    }
}
