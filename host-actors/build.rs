//! Embeds the gadget ABI headers and the bundled gadgets' sources into the library, so the
//! `rig` binary can build gadgets wherever it is installed.

use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, root, out);
        } else if let Some(ext) = p.extension().and_then(|e| e.to_str())
            && matches!(ext, "h" | "c" | "yaml")
        {
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((rel, p));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let gadgets = manifest.join("../gadgets");
    println!("cargo:rerun-if-changed={}", gadgets.display());
    let mut files = Vec::new();
    collect(&gadgets, &gadgets, &mut files);
    let mut src = String::from(
        "/// Files under `gadgets/`: (relative path, contents).\npub static FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        src.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            path.canonicalize().unwrap_or(path.clone())
        ));
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    fs::write(out, src).expect("write embedded.rs");
}
