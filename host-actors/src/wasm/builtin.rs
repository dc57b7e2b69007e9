//! The operators shipped inside rig (`builtin/filter`, `builtin/sort`, `builtin/limit`,
//! `builtin/export`).
//!
//! `build.rs` builds the guest workspace `operators/` for `wasm32-wasip2` and embeds each
//! builtin's component with `include_bytes!`, so the `rig` binary needs no files beside it. They
//! run through exactly the same host, checks and sandbox as any other operator: being builtin
//! grants nothing. A build with `RIG_SKIP_OPERATORS=1` embeds none.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of a builtin operator: `"filter"`, `"sort"`, `"limit"` or `"export"`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of the builtin operators in this build.
pub fn builtin_names() -> &'static [&'static str] {
    BUILTIN_NAMES
}
