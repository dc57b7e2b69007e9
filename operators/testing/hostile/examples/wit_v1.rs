//! A component built against a future, incompatible major version of the contract
//! (`rig:operator@1.0.0`). The host must refuse it at load and name both versions.

// Components only: on other targets (`cargo test --workspace` on the host) the crate is empty,
// since component export names cannot be linked into a native shared library.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    inline: "
        package rig:operator@1.0.0;

        interface operator {
            init: func(config: list<tuple<string, string>>) -> result<_, string>;
        }

        world rig-operator {
            export operator;
        }
    ",
});

struct V1;

impl exports::rig::operator::operator::Guest for V1 {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }
}

export!(V1);
