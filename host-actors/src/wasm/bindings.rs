//! The Rust side of the WIT contract, generated from `wit/operator.wit`.
//!
//! This is the only `bindgen!` of the host: every other module uses these types, so a change of
//! the contract shows up as compile errors in one crate, not as a mismatch at run time.
//!
//! The WIT is read from the repository's `wit/` itself: the host, the guest SDK and the test
//! operators all build from that one file, so they cannot drift apart.
//!
//! Exports are called asynchronously (`call_async`, on a fiber): a guest blocked in a WASI host
//! call (a sleep, a poll) is then a pending future that the stage's deadline can drop, while
//! compute-bound guest code is still stopped by the epoch interrupt. rig's own host imports are
//! synchronous: none of them blocks.
//! Types passed *to* the guest borrow (`BatchParam<'a>` holds `&[u8]` rows and heap), so a batch
//! crosses with exactly one copy, into guest memory; types coming back are owned
//! (`BatchResult`, `SchemaResult`).

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

wasmtime::component::bindgen!({
    world: "rig-operator",
    path: "../wit",
    ownership: Borrowing { duplicate_if_necessary: true },
    exports: { default: async },
});

pub(crate) use rig::operator::host::{Host, Level};
pub(crate) use rig::operator::types::{FieldKind, Output};
