//! Write rig operators in Rust.
//!
//! An operator is a WebAssembly component of the `rig:operator` world (`wit/operator.wit`): the
//! host hands it whole batches of events in rig's packed row layout and it answers which rows to
//! keep, or new rows. This crate generates the guest bindings once and puts a typed layer on
//! top, so an operator is a struct implementing [`Operator`] plus one [`export_operator!`] line:
//!
//! - [`Schema`] / [`FieldRef`]: resolve field names once at `init`;
//! - [`BatchView`] / [`Value`]: read cells without allocating;
//! - [`RowsBuilder`] / [`OwnedBatch`]: build rows with a self-contained heap;
//! - [`Config`]: typed access to the operator's `with:` / `--operator-param` keys;
//! - [`Schema::project`] / [`Projection`]: declare the fields you read and write, so only those
//!   cross the boundary (the fast path: a few bytes per event instead of whole rows);
//! - [`host`]: log, counters, parameters and the clock.
//!
//! ```ignore
//! use rig_operator_sdk::{export_operator, BatchView, Config, FieldRef, Operator, Output, Schema};
//!
//! struct BigReads { size: FieldRef, min: u64 }
//!
//! impl Operator for BigReads {
//!     fn init(config: &Config, input: &Schema) -> Result<Self, String> {
//!         Ok(Self { size: input.resolve("size")?, min: config.parse_or("min", 4096)? })
//!     }
//!     fn process(&mut self, b: &BatchView<'_>) -> Result<Output, String> {
//!         let keep = (0..b.len()).filter(|&r| b.get_u64(r, &self.size) >= Some(self.min));
//!         Ok(Output::Keep(keep.map(|r| r as u32).collect()))
//!     }
//! }
//!
//! export_operator!(BigReads);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `cdylib` is the component.
//! Everything but the generated glue also builds natively, so operators are unit-tested with
//! [`Runner`] and the stand-in host of [`host::native`].

mod batch;
mod builder;
mod config;
pub mod host;
mod operator;
mod project;
mod schema;

#[doc(hidden)]
pub mod glue;

pub use batch::{BatchView, OwnedBatch, Value, decode, str_prefix};
pub use builder::RowsBuilder;
pub use config::Config;
pub use operator::{Operator, Output, Runner};
pub use project::Projection;
pub use rig_layout::{Escaped, base64_chunks};
pub use schema::{Field, FieldKind, FieldRef, Schema};

/// The bindings generated from `wit/operator.wit` (world `rig-operator`). Operators normally
/// use the typed layer of this crate instead.
#[doc(hidden)]
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "rig-operator",
        pub_export_macro: true,
        export_macro_name: "__export_rig_operator",
        default_bindings_module: "rig_operator_sdk::bindings",
    });
}

/// Exports a type implementing [`Operator`] as the component's `rig:operator/operator`
/// interface. Use it once, in the operator crate's `lib.rs` (a `cdylib`):
///
/// ```ignore
/// rig_operator_sdk::export_operator!(MyOperator);
/// ```
///
/// It expands to nothing outside wasm32, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export_operator {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct RigOperatorExport;

            impl $crate::bindings::exports::rig::operator::operator::Guest for RigOperatorExport {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                    input: $crate::bindings::exports::rig::operator::operator::Schema,
                ) -> ::core::result::Result<
                    $crate::bindings::exports::rig::operator::operator::Schema,
                    ::std::string::String,
                > {
                    $crate::glue::init::<$ty>(config, input)
                }

                fn process(
                    input: $crate::bindings::exports::rig::operator::operator::Batch,
                ) -> ::core::result::Result<
                    $crate::bindings::exports::rig::operator::operator::Output,
                    ::std::string::String,
                > {
                    $crate::glue::process(input)
                }

                fn flush() -> ::core::result::Result<
                    ::core::option::Option<$crate::bindings::exports::rig::operator::operator::Batch>,
                    ::std::string::String,
                > {
                    $crate::glue::flush()
                }
            }

    $crate::bindings::__export_rig_operator!(RigOperatorExport with_types_in $crate::bindings);
        };
    };
}
