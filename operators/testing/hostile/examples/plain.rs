//! A well-formed WASI component that is not a rig operator: it exports something else entirely.
//! The host must refuse it at load and say what is missing.

// Components only: on other targets (`cargo test --workspace` on the host) the crate is empty,
// since component export names cannot be linked into a native shared library.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    inline: "
        package test:plain;

        world plain {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Plain;

impl Guest for Plain {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Plain);
