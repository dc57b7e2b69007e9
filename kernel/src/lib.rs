//! rig's microkernel: the data model and the message graph, with no eBPF, WASM or container
//! runtime in sight.
//!
//! A run is a source of [`Batch`]es (the eBPF loader, in `rig-host`) feeding a [`Pipeline`] of
//! [`Stage`]s. Every batch carries an `Arc<`[`Schema`]`>` built once from the gadget's BTF and
//! `gadget.yaml` ([`metadata`]); the [`format`] module turns the gadget ABI's special types
//! (timestamps, errno, signals, file flags…) into text. Host actors depend on this crate, never
//! the other way round.

pub mod batch;
pub mod derive;
pub mod format;
pub mod graph;
pub mod graph_config;
pub mod input;
pub mod metadata;
pub mod schema;

pub use batch::{Batch, Value};
pub use graph::{GraphError, GraphReport, NodeSpec, NodeStats, Pipeline, Stage, StageError};
pub use metadata::GadgetMetadata;
pub use schema::{Field, FieldId, FieldKind, Placement, Schema, SchemaBuilder, SchemaError, Special, Storage};
