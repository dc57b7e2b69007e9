//! Perf-event programs (`perf_event/<name>` sections; IG's profile_cpu): CPU sampling on every
//! online CPU, as IG's eBPF operator opens them.
//!
//! IG reads the event from gadget.yaml (`programs.<name>.perf.type: software`,
//! `perf.config: count_sw_cpu_clock`, `sampler.frequency`); those are the only values it
//! accepts, so rig opens that event, a software CPU clock for all processes on each CPU, at the
//! frequency [`Sampling`] carries (IG's profile_cpu asks for 49 Hz, the default here). The
//! events belong to the aya program: dropping the gadget closes them.

use aya::programs::PerfEvent;
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};

use super::AttachError;

/// How perf-event programs sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// Samples per second on each CPU.
    pub frequency: u64,
}

impl Default for Sampling {
    /// IG's profile_cpu: `sampler.frequency: 49`.
    fn default() -> Self {
        Self { frequency: 49 }
    }
}

/// Attaches `prog` to a software CPU-clock event on every online CPU; returns how many.
pub fn attach(prog: &mut PerfEvent, sampling: Sampling) -> Result<usize, AttachError> {
    if sampling.frequency == 0 {
        return Err(AttachError::ZeroFrequency);
    }
    let cpus = aya::util::online_cpus().map_err(|(_, source)| AttachError::Cpus(source))?;
    for &cpu in &cpus {
        prog.attach(
            PerfEventConfig::Software(SoftwareEvent::CpuClock),
            PerfEventScope::AllProcessesOneCpu { cpu },
            SamplePolicy::Frequency(sampling.frequency),
            false,
        )
        .map_err(|source| AttachError::PerfEvent {
            cpu,
            source: Box::new(source),
        })?;
    }
    Ok(cpus.len())
}
