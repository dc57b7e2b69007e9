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
//! | `sleep`  | `std::thread::sleep` for config `ms` (default 60 000): a blocking WASI call    |
//! | `recurse`| recurses without bound: a stack overflow                                      |
//! | `errflood` | returns an `Err` of config `bytes` (default 10 MB) with `\n`, `\r`, escapes and forged `error:` lines |
//! | `logflood` | logs config `lines` (default 100 000) lines via `host.log`, stdout and stderr, forging `error:` lines |
//! | `grow`   | returns `rows`: config `factor` (default 16) times its input, each a copy     |
//! | `symlink`| plants the symlink config `path` (default `/out.jsonl`) → config `target` (default `../victim.txt`), keeps all rows |
//!
//! With config `fields = N`, `init` returns an output schema of `N` one-byte fields (a schema
//! bomb) instead of its input schema.
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
    Sleep,
    Recurse,
    ErrFlood,
    LogFlood,
    Grow,
    Symlink,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// Misbehave only for batches of this many rows.
    on: Option<u32>,
    row_size: u32,
    addr: String,
    path: String,
    /// `ms`, `bytes`, `lines`, `factor`: the size of the misbehaviour.
    amount: Option<u64>,
    target: String,
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
            "sleep" => Mode::Sleep,
            "recurse" => Mode::Recurse,
            "errflood" => Mode::ErrFlood,
            "logflood" => Mode::LogFlood,
            "grow" => Mode::Grow,
            "symlink" => Mode::Symlink,
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
        let amount = ["ms", "bytes", "lines", "factor"]
            .iter()
            .find_map(|k| lookup(&config, k))
            .map(|v| v.parse::<u64>().map_err(|e| format!("amount: {e}")))
            .transpose()?;
        println!("hostile: init mode={mode:?}");
        host::log(Level::Info, &format!("init mode={mode:?} on={on:?}"));
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                mode,
                on,
                row_size: input.row_size,
                addr: lookup(&config, "addr").unwrap_or("127.0.0.1:1").to_owned(),
                path: lookup(&config, "path")
                    .unwrap_or(if mode == Mode::Symlink { "/out.jsonl" } else { "/hostile.txt" })
                    .to_owned(),
                amount,
                target: lookup(&config, "target").unwrap_or("../victim.txt").to_owned(),
            })
        });
        if let Some(n) = lookup(&config, "fields") {
            let n: u32 = n.parse().map_err(|e| format!("fields: {e}"))?;
            return Ok(schema_bomb(&input, n));
        }
        Ok(input)
    }

    fn process(input: Batch) -> Result<Output, String> {
        let (mode, on, row_size, addr, path, amount, target) = STATE.with(|s| {
            let s = s.borrow();
            let s = s.as_ref().expect("init runs first");
            (s.mode, s.on, s.row_size, s.addr.clone(), s.path.clone(), s.amount, s.target.clone())
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
            Mode::Sleep => {
                std::thread::sleep(std::time::Duration::from_millis(amount.unwrap_or(60_000)));
                Ok(keep_all())
            }
            Mode::Recurse => Err(format!("recursed {}", deep(std::hint::black_box(1)))),
            Mode::ErrFlood => {
                let n = amount.unwrap_or(10_000_000) as usize;
                let unit = "x\nerror: forged by the operator\r\x1b[31mred\x1b[0m ";
                Err(unit.repeat(n / unit.len() + 1)[..n].to_owned())
            }
            Mode::LogFlood => {
                for i in 0..amount.unwrap_or(100_000) {
                    host::log(Level::Error, &format!("line {i}\nerror: forged by the operator"));
                    println!("stdout {i}\rerror: forged");
                    eprintln!("stderr {i} \x1b]0;title\x07");
                }
                Ok(keep_all())
            }
            Mode::Grow => {
                let f = amount.unwrap_or(16) as u32;
                let n = input.count * f;
                Ok(Output::Rows(Batch {
                    rows: input.rows.repeat(f as usize),
                    heap: input.heap,
                    count: n,
                }))
            }
            Mode::Symlink => {
                let _ = std::fs::remove_file(&path);
                // std's `symlink_path` is unstable: ask the preopened directory itself.
                let dirs = wasip2::filesystem::preopens::get_directories();
                let Some((dir, _)) = dirs.first() else {
                    return Err("symlink: no preopened directory".into());
                };
                match dir.symlink_at(&target, path.trim_start_matches('/')) {
                    Ok(()) => Ok(keep_all()),
                    Err(e) => Err(format!("symlink {path} -> {target}: {e:?}")),
                }
            }
        }
    }

    fn flush() -> Result<Option<Batch>, String> {
        Ok(None)
    }
}

/// Recurses until the stack runs out (each frame holds a 4 KiB array the optimiser cannot drop).
#[inline(never)]
fn deep(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    let frame = [n; 512];
    std::hint::black_box(&frame);
    deep(std::hint::black_box(n + 1)).wrapping_add(frame[n as usize % 512])
}

/// An output schema of `n` one-byte `u8` fields, named `f0`, `f1`…
fn schema_bomb(input: &Schema, n: u32) -> Schema {
    let row_size = n.div_ceil(8).max(1) * 8;
    Schema {
        datasource: input.datasource.clone(),
        row_size,
        fields: (0..n)
            .map(|i| rig::operator::types::Field {
                name: format!("f{i}"),
                kind: rig::operator::types::FieldKind::U8,
                offset: i,
                size: 1,
                heap: false,
                hidden: false,
                tags: Vec::new(),
                annotations: Vec::new(),
            })
            .collect(),
    }
}

export!(Hostile);
