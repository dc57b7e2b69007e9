//! `rig-op-hostile`: an operator that misbehaves on purpose, so rig's host can prove its sandbox.
//!
//! It is built with `wit-bindgen` directly (not the SDK), so the host's tests do not depend on the
//! SDK being right. The behaviour is chosen by the config key `mode` at `init`:
//!
//! | mode     | what `process` does                                                         |
//! |----------|------------------------------------------------------------------------------|
//! | `pass`   | keeps every row (and logs, prints and counts, to exercise the host imports)  |
//! | `loop`   | spins forever: the epoch deadline must stop it                               |
//! | `alloc`  | allocates 1 GiB: the memory limit must stop it                               |
//! | `trap`   | panics (`panic = "abort"`: a wasm `unreachable` trap)                        |
//! | `shadow` | reads `/etc/shadow` and returns `Err` saying what happened (must fail)       |
//! | `socket` | connects to config `addr` (default `127.0.0.1:1`); returns `Err` saying what happened |
//! | `flood`  | returns `rows` 100× larger than its input                                    |
//! | `write`  | writes the file named by config `path`; `Err` on failure, keeps all rows on success |
//!
//! With config `on = N`, the misbehaviour only happens for batches of exactly `N` rows and every
//! other batch passes: that is how the host's restart tests see an operator recover.

// Components only: on other targets (`cargo test --workspace` on the host) the crate is empty,
// since component export names cannot be linked into a native shared library.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;

wit_bindgen::generate!({
    path: "../../../wit",
    world: "rig-operator",
});

use exports::rig::operator::operator::Guest;
use rig::operator::host::{self, Level};
use rig::operator::types::{Batch, Output, Schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    Loop,
    Alloc,
    Trap,
    Shadow,
    Socket,
    Flood,
    Write,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// Misbehave only for batches of this many rows.
    on: Option<u32>,
    row_size: u32,
    addr: String,
    path: String,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

struct Hostile;

fn lookup<'a>(config: &'a [(String, String)], key: &str) -> Option<&'a str> {
    config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl Guest for Hostile {
    fn init(config: Vec<(String, String)>, input: Schema) -> Result<Schema, String> {
        let mode = match lookup(&config, "mode").unwrap_or("pass") {
            "pass" => Mode::Pass,
            "loop" => Mode::Loop,
            "alloc" => Mode::Alloc,
            "trap" => Mode::Trap,
            "shadow" => Mode::Shadow,
            "socket" => Mode::Socket,
            "flood" => Mode::Flood,
            "write" => Mode::Write,
            other => return Err(format!("unknown mode {other:?}")),
        };
        let on = match lookup(&config, "on") {
            Some(v) => Some(v.parse::<u32>().map_err(|e| format!("on: {e}"))?),
            None => None,
        };
        // The host import and the config must agree.
        if host::param("mode").as_deref() != lookup(&config, "mode") {
            return Err("param(\"mode\") disagrees with the config".into());
        }
        println!("hostile: init mode={mode:?}");
        host::log(Level::Info, &format!("init mode={mode:?} on={on:?}"));
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                mode,
                on,
                row_size: input.row_size,
                addr: lookup(&config, "addr").unwrap_or("127.0.0.1:1").to_owned(),
                path: lookup(&config, "path").unwrap_or("/hostile.txt").to_owned(),
            })
        });
        Ok(input)
    }

    fn process(input: Batch) -> Result<Output, String> {
        let (mode, on, row_size, addr, path) = STATE.with(|s| {
            let s = s.borrow();
            let s = s.as_ref().expect("init runs first");
            (s.mode, s.on, s.row_size, s.addr.clone(), s.path.clone())
        });
        host::counter_add("hostile.rows", u64::from(input.count));
        let triggered = on.is_none_or(|n| n == input.count);
        let keep_all = || Output::Keep((0..input.count).collect());
        if !triggered {
            return Ok(keep_all());
        }
        match mode {
            Mode::Pass => Ok(keep_all()),
            Mode::Loop => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let v = vec![1u8; 1 << 30];
                std::hint::black_box(&v);
                Err(format!("allocated {} bytes", v.len()))
            }
            Mode::Trap => panic!("hostile operator panics on purpose"),
            Mode::Shadow => match std::fs::read("/etc/shadow") {
                Ok(b) => Err(format!("shadow: READ {} bytes of /etc/shadow", b.len())),
                Err(e) => Err(format!("shadow: cannot open /etc/shadow: {e}")),
            },
            Mode::Socket => match std::net::TcpStream::connect(addr.as_str()) {
                Ok(_) => Err(format!("socket: CONNECTED to {addr}")),
                Err(e) => Err(format!("socket: cannot connect to {addr}: {e}")),
            },
            Mode::Flood => {
                let n = input.count.max(1) * 100;
                let rows = vec![0u8; n as usize * row_size as usize];
                Ok(Output::Rows(Batch {
                    rows,
                    heap: input.heap,
                    count: n,
                }))
            }
            Mode::Write => match std::fs::write(&path, b"written by rig-op-hostile\n") {
                Ok(()) => Ok(keep_all()),
                Err(e) => Err(format!("write {path}: {e}")),
            },
        }
    }

    fn flush() -> Result<Option<Batch>, String> {
        Ok(None)
    }
}

export!(Hostile);
