//! Writes each fuzz target's seeds to `fuzz/corpus/<target>/` (see `rig_fuzz::seeds`), the
//! folder `cargo fuzz run <target>` starts from. `fuzz/seed.sh` runs this.

use std::fs;

use rig_fuzz::seeds::{TARGETS, repo, seeds};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for target in TARGETS {
        let dir = repo().join("fuzz/corpus").join(target);
        fs::create_dir_all(&dir)?;
        let seeds = seeds(target)?;
        for s in &seeds {
            fs::write(dir.join(&s.name), &s.bytes)?;
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    Ok(())
}
