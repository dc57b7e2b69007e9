//! `builtin/limit`: passes the first N rows and drops the rest (IG `--max-entries`).
//!
//! Config:
//! - `max-entries` (required): how many rows pass; `0` passes none.
//! - `per-flush` (default `false`): when true, the count starts again after every host flush —
//!   one window per interval or per snapshot of an array datasource, which is how IG applies
//!   `--max-entries` to snapshotters and top gadgets. When false the limit is for the whole run.
//!
//! Rows pass in arrival order as `keep(indices)`; rows over the limit are added to the counter
//! `dropped` once per batch.

use rig_operator_sdk::{BatchView, Config, Operator, Output, OwnedBatch, Schema, export_operator, host};

/// The limit operator.
#[derive(Debug)]
pub struct Limit {
    max: u64,
    per_flush: bool,
    passed: u64,
}

impl Operator for Limit {
    fn init(config: &Config, _input: &Schema) -> Result<Self, String> {
        // Shown by --stats from the start, at 0 until something is dropped.
        host::counter_add("dropped", 0);
        config.allow_only(&["max-entries", "per-flush"])?;
        let max = config
            .require("max-entries")
            .and_then(|_| config.parse_or::<u64>("max-entries", 0))
            .map_err(|e| format!("limit: {e}"))?;
        let per_flush = config.bool_or("per-flush", false).map_err(|e| format!("limit: {e}"))?;
        Ok(Self {
            max,
            per_flush,
            passed: 0,
        })
    }

    fn process(&mut self, batch: &BatchView<'_>) -> Result<Output, String> {
        let room = self.max.saturating_sub(self.passed);
        let n = (batch.len() as u64).min(room);
        self.passed += n;
        let dropped = batch.len() as u64 - n;
        if dropped > 0 {
            host::counter_add("dropped", dropped);
        }
        Ok(Output::Keep((0..n as u32).collect()))
    }

    fn flush(&mut self) -> Result<Option<OwnedBatch>, String> {
        if self.per_flush {
            self.passed = 0;
        }
        Ok(None)
    }
}

export_operator!(Limit);

#[cfg(test)]
mod tests {
    use super::*;
    use rig_operator_sdk::{Runner, host::native};

    fn runner(cfg: &[(&str, &str)]) -> Result<Runner<Limit>, String> {
        let cfg: Vec<(String, String)> = cfg.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Runner::<Limit>::init(&cfg, Schema::new("ds", vec![], 8).unwrap())
    }

    fn feed(r: &mut Runner<Limit>, n: usize) -> Vec<u32> {
        match r.process(&vec![0; n * 8], &[], n as u32).unwrap() {
            Output::Keep(k) => k,
            Output::Rows(_) => panic!("limit returned rows"),
        }
    }

    #[test]
    fn passes_the_first_n_rows_of_the_stream() {
        native::reset();
        let mut r = runner(&[("max-entries", "5")]).unwrap();
        assert_eq!(feed(&mut r, 3), [0, 1, 2]);
        assert_eq!(feed(&mut r, 4), [0, 1]);
        assert_eq!(feed(&mut r, 2), Vec::<u32>::new());
        assert_eq!(r.flush().unwrap(), None);
        assert_eq!(
            feed(&mut r, 2),
            Vec::<u32>::new(),
            "a flush does not reset without per-flush"
        );
        assert_eq!(native::counter("dropped"), 2 + 2 + 2);
    }

    #[test]
    fn per_flush_restarts_the_count() {
        let mut r = runner(&[("max-entries", "2"), ("per-flush", "true")]).unwrap();
        assert_eq!(feed(&mut r, 3), [0, 1]);
        assert_eq!(feed(&mut r, 1), Vec::<u32>::new());
        r.flush().unwrap();
        assert_eq!(feed(&mut r, 1), [0]);
        assert_eq!(feed(&mut r, 5), [0]);
    }

    #[test]
    fn zero_passes_nothing() {
        let mut r = runner(&[("max-entries", "0")]).unwrap();
        assert_eq!(feed(&mut r, 4), Vec::<u32>::new());
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(runner(&[]).unwrap_err(), "limit: missing config key \"max-entries\"");
        assert!(
            runner(&[("max-entries", "-1")])
                .unwrap_err()
                .contains("\"max-entries\"")
        );
        assert!(
            runner(&[("max-entries", "1"), ("per-flush", "maybe")])
                .unwrap_err()
                .contains("\"per-flush\"")
        );
        assert!(
            runner(&[("max-entries", "1"), ("max", "1")])
                .unwrap_err()
                .contains("unknown config key \"max\"")
        );
    }
}
