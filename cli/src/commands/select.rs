//! The container flags of `rig run`, with IG's names: which containers to show
//! (`-c`, `--runtime-containername`, `-n`, `-p`, `--k8s-containername`, `-l`, `--host`)
//! and how to find them (the runtime flags, shared with `rig list-containers`).

use clap::{ArgMatches, Args, FromArgMatches as _};
use rig_host::containers::selector::Selector;

/// Which containers a run shows.
#[derive(Debug, Args)]
#[command(next_help_heading = "Containers")]
pub struct SelectorArgs {
    /// Show only the container with this name (runtime or Kubernetes container name)
    #[arg(short = 'c', long = "containername")]
    containername: Option<String>,
    /// Show only the container with this runtime container name
    #[arg(long = "runtime-containername")]
    runtime_containername: Option<String>,
    /// Show only containers of pods in this Kubernetes namespace
    #[arg(short = 'n', long = "k8s-namespace")]
    k8s_namespace: Option<String>,
    /// Show only containers of this pod
    #[arg(short = 'p', long = "k8s-podname")]
    k8s_podname: Option<String>,
    /// Show only containers with this name in their pod
    #[arg(long = "k8s-containername")]
    k8s_containername: Option<String>,
    /// Show only containers of pods with these labels: key=value,key!=value
    #[arg(short = 'l', long = "k8s-selector")]
    k8s_selector: Option<String>,
    /// Show host processes too (default: true without a container selection, false with one;
    /// --host=false shows containers only, filtered in the kernel)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    host: Option<bool>,
}

impl SelectorArgs {
    /// Reads the flags from a run's matches.
    pub fn from_matches(m: &ArgMatches) -> anyhow::Result<Selector> {
        let a = SelectorArgs::from_arg_matches(m)?;
        let labels = match &a.k8s_selector {
            Some(l) => Selector::parse_labels(l)?,
            None => Vec::new(),
        };
        let mut s = Selector {
            container_name: a.containername,
            runtime_container_name: a.runtime_containername,
            k8s_namespace: a.k8s_namespace,
            k8s_pod_name: a.k8s_podname,
            k8s_container_name: a.k8s_containername,
            labels,
            host: true,
        };
        s.host = a.host.unwrap_or(!s.has_container_criteria());
        Ok(s)
    }
}
