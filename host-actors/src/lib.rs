//! rig's host actors: everything that touches the operating system.
//!
//! The kernel crate (`rig-kernel`) knows batches, schemas and the graph; this crate brings the
//! outside world to it: [`gadget`] finds and [`compile`]s gadgets, [`ebpf`] loads them with aya
//! and turns their ring buffers into batches, [`enrich`] adds host context (user and group
//! names), [`sinks`] print results, and [`run`] wires one run end to end — the API an embedding
//! program calls, and the one the `rig` binary is a thin shell over. For authors, [`info`]
//! describes a gadget's layout and parameters, and [`authoring`] carries an operator's name from
//! its project into its component and its node.

pub mod authoring;
pub mod compile;
pub mod containers;
pub mod ebpf;
pub mod enrich;
pub mod gadget;
pub mod graph;
pub mod info;
pub mod registry;
pub mod run;
pub mod sinks;
pub mod wasm;
