//! Standard error that never fails: where logs and warnings go.
//!
//! Rust ignores `SIGPIPE`, so writing to a pipe whose reader is gone returns `EPIPE`, and
//! `eprintln!` (and tracing-subscriber's own error report) *panic* on a failed write. A panic in
//! a stage that was only logging used to leave a run hanging (`rig run … 2>&1 | head`).
//! [`LogWriter`] swallows every write error; on the first `EPIPE` it also points file
//! descriptor 2 at `/dev/null`, so any later `eprintln!` anywhere in the process succeeds
//! silently instead of panicking. (A stderr closed with `2>&-` gives `EBADF`, which the standard
//! library already treats as success.)

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stderr was found closed and redirected to `/dev/null`.
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// An [`io::Write`] to standard error that reports success whatever happens; give
/// `|| LogWriter` to tracing-subscriber's `with_writer`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !STDERR_GONE.load(Ordering::Relaxed)
            && let Err(e) = io::stderr().write_all(buf)
        {
            silence_if_closed(&e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Err(e) = io::stderr().flush() {
            silence_if_closed(&e);
        }
        Ok(())
    }
}

/// After `EPIPE` on stderr, makes fd 2 a `/dev/null` so no later write can fail.
pub fn silence_if_closed(e: &io::Error) {
    if e.kind() != io::ErrorKind::BrokenPipe || STDERR_GONE.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        // SAFETY: dup2 on two open descriptors we own (null) or the process owns (2) has no
        // memory-safety preconditions; `null` is closed when dropped, fd 2 keeps the copy.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO);
        }
    }
}

/// Before plain `eprintln!`s (end-of-run warnings): if stderr is a pipe whose reader is gone
/// (`poll` reports `POLLERR`), points fd 2 at `/dev/null` so those writes cannot panic.
pub fn guard() {
    if STDERR_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut fd = libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, no timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    if n == 1 && fd.revents & libc::POLLERR != 0 {
        silence_if_closed(&io::Error::from(io::ErrorKind::BrokenPipe));
    }
}

/// Writes a line to stderr like `eprintln!`, but never panics (a warning at the end of a run
/// whose stderr reader went away is simply lost).
pub fn eprint_line(line: &str) {
    let mut w = LogWriter;
    let _ = w.write(line.as_bytes());
    let _ = w.write(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_report_success() {
        let mut w = LogWriter;
        assert_eq!(w.write(b"").unwrap(), 0);
        assert!(w.flush().is_ok());
    }
}
