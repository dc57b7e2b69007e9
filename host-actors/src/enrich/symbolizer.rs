//! User addresses to function names with `blazesym`, on a thread of its own.
//!
//! blazesym's `Symbolizer` caches parsed ELF files behind `Rc`s, so it cannot move between the
//! graph's worker threads with the stage that uses it. [`UserSymbolizer`] keeps one on a
//! dedicated thread and asks it synchronously (one request per stack not seen before); the
//! thread ends when the handle is dropped. Sources are the live process's mappings
//! (`/proc/PID/maps`, `map_files`) and the ELF symbol tables of its files: no DWARF, no
//! demangling, no debuginfod, nothing fetched from the network.

use std::sync::mpsc;

use blazesym::symbolize::source::{Process, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};

/// One request: a process and its stack's addresses; the answer has one entry per address.
type Request = (u32, Vec<u64>, mpsc::Sender<Vec<Option<String>>>);

/// Why the symbolizer thread is not there.
#[derive(Debug, thiserror::Error)]
pub enum SymbolizerError {
    /// The thread could not be started.
    #[error("starting the user-stack symbolizer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A handle to the symbolizer thread.
#[derive(Debug)]
pub struct UserSymbolizer {
    requests: mpsc::Sender<Request>,
}

impl UserSymbolizer {
    /// Starts the thread.
    pub fn start() -> Result<Self, SymbolizerError> {
        let (requests, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("rig-ustack".into())
            .spawn(move || {
                let symbolizer = Symbolizer::new();
                for (pid, ips, reply) in rx {
                    let src = Source::Process(Process::new(pid.into()));
                    let names = match symbolizer.symbolize(&src, Input::AbsAddr(&ips)) {
                        Ok(syms) => syms
                            .into_iter()
                            .map(|s| match s {
                                Symbolized::Sym(s) => Some(s.name.into_owned()),
                                Symbolized::Unknown(_) => None,
                            })
                            .collect(),
                        Err(e) => {
                            tracing::debug!(pid, "user stack not symbolised: {e}");
                            Vec::new()
                        }
                    };
                    let _ = reply.send(names);
                }
            })
            .map_err(SymbolizerError::Spawn)?;
        Ok(Self { requests })
    }

    /// The function name of each address of process `pid` (`None` where unknown).
    pub fn symbolize(&self, pid: u32, ips: &[u64]) -> Vec<Option<String>> {
        let (tx, rx) = mpsc::channel();
        if self.requests.send((pid, ips.to_vec(), tx)).is_err() {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }
}
