//! A well-formed WASI component that is not a rig operator: it exports something else entirely.
//! The host must refuse it at load and say what is missing.

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
