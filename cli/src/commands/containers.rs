//! How rig finds containers (IG's runtime flags, shared by `rig run` and `rig list-containers`)
//! and the `list-containers` subcommand.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use rig_host::containers::{Container, ContainerEvent, ContainersConfig, RuntimeName};
use tokio::sync::broadcast;

/// Which container runtimes to ask, and where their sockets are.
#[derive(Debug, Args)]
#[command(next_help_heading = "Container runtimes")]
pub struct RuntimeArgs {
    /// Runtimes to discover containers from: containerd,runc,crun,podman, or none
    #[arg(long, value_delimiter = ',', default_value = "containerd,runc,crun,podman")]
    runtimes: Vec<String>,
    /// containerd's gRPC socket
    #[arg(long = "containerd-socketpath", default_value = "/run/containerd/containerd.sock")]
    containerd_socketpath: PathBuf,
    /// podman's API socket
    #[arg(long = "podman-socketpath", default_value = "/run/podman/podman.sock")]
    podman_socketpath: PathBuf,
    /// The node name events carry in k8s.node (default: the host name)
    #[arg(long = "node-name", env = "NODE_NAME")]
    node_name: Option<String>,
}

impl RuntimeArgs {
    /// The discovery configuration; `None` when `--runtimes none` turns discovery off.
    pub fn config(&self) -> anyhow::Result<Option<ContainersConfig>> {
        let mut runtimes = Vec::new();
        for r in &self.runtimes {
            let r = r.trim();
            if r == "none" || r.is_empty() {
                continue;
            }
            match RuntimeName::parse(r) {
                Some(name) if !runtimes.contains(&name) => runtimes.push(name),
                Some(_) => {}
                None => bail!(
                    "--runtimes: unknown runtime {:?} (known: containerd, runc, crun, podman, none)",
                    rig_kernel::input::escape_control(r)
                ),
            }
        }
        if runtimes.is_empty() {
            return Ok(None);
        }
        let mut config = ContainersConfig {
            runtimes,
            containerd_socket: self.containerd_socketpath.clone(),
            podman_socket: self.podman_socketpath.clone(),
            ..ContainersConfig::default()
        };
        if let Some(n) = &self.node_name {
            config.node_name.clone_from(n);
        }
        Ok(Some(config))
    }
}

/// Output formats of `rig list-containers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// Aligned columns, ids cut to 12 characters.
    Columns,
    /// One JSON object per line, with the field names events carry.
    Json,
}

/// `rig list-containers`: the containers rig knows on this host.
#[derive(Debug, Args)]
pub struct ListContainersCmd {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "columns")]
    output: ListFormat,
    /// Keep running: print the known containers as added, then each start and exit, until Ctrl-C.
    #[arg(short, long)]
    watch: bool,
    /// Container runtimes.
    #[command(flatten)]
    runtimes: RuntimeArgs,
}

/// The columns, and the widths they are padded to.
const COLUMNS: [(&str, usize); 10] = [
    ("RUNTIME", 10),
    ("CONTAINERNAME", 16),
    ("CONTAINERID", 12),
    ("IMAGE", 32),
    ("PID", 7),
    ("MNTNS", 10),
    ("NETNS", 10),
    ("K8S.NAMESPACE", 13),
    ("K8S.PODNAME", 16),
    ("K8S.CONTAINERNAME", 17),
];

/// How long list-containers waits for every runtime's first answer.
const SYNC_BOUND: Duration = Duration::from_secs(2);

impl ListContainersCmd {
    /// Lists (and with `--watch` follows) the containers.
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        let Some(config) = self.runtimes.config()? else {
            bail!("--runtimes none: list-containers needs at least one runtime to ask");
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let result = rt.block_on(self.list(config));
        rt.shutdown_timeout(Duration::from_millis(200));
        rig_host::sinks::stderr::guard();
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
            Ok(()) => Ok(ExitCode::SUCCESS),
        }
    }

    async fn list(&self, config: ContainersConfig) -> io::Result<()> {
        let node = config.node_name.clone();
        let handle = rig_host::containers::spawn(config);
        let mut events = handle.subscribe();
        if !handle.wait_synced(SYNC_BOUND).await {
            tracing::warn!("not every runtime answered within {SYNC_BOUND:?}; listing what is known");
        }
        let mut out = io::stdout().lock();
        let columns = self.output == ListFormat::Columns;
        if columns {
            writeln!(out, "{}", header(self.watch))?;
        }
        // What was printed, by id: deltas already queued for those are not printed twice.
        let mut shown = HashMap::new();
        for c in handle.snapshot().running() {
            let event = self.watch.then_some("added");
            writeln!(
                out,
                "{}",
                if columns {
                    row(&c, event)
                } else {
                    json(&c, &node, event)
                }
            )?;
            shown.insert(c.id.clone(), c.mntns);
        }
        out.flush()?;
        if !self.watch {
            handle.shutdown().await;
            return Ok(());
        }
        let mut closed = tokio::time::interval(Duration::from_millis(200));
        loop {
            let (c, what) = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ContainerEvent::Added(c)) if shown.get(&c.id) != Some(&c.mntns) => {
                        shown.insert(c.id.clone(), c.mntns);
                        (c, "added")
                    }
                    Ok(ContainerEvent::Removed(c)) if shown.remove(&c.id).is_some() => (c, "removed"),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("missed {n} container events (output too slow)");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = closed.tick() => {
                    if stdout_closed() {
                        break;
                    }
                    continue;
                }
                _ = tokio::signal::ctrl_c() => break,
            };
            writeln!(
                out,
                "{}",
                if columns {
                    row(&c, Some(what))
                } else {
                    json(&c, &node, Some(what))
                }
            )?;
            out.flush()?;
        }
        handle.shutdown().await;
        Ok(())
    }
}

/// True when stdout is a pipe whose reader went away (`poll` reports `POLLERR`).
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, no timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// The column header (with a leading EVENT column in watch mode).
fn header(watch: bool) -> String {
    let cells = COLUMNS.iter().map(|(name, _)| (*name).to_owned());
    pad(watch.then(|| "EVENT".to_owned()).into_iter().chain(cells), watch)
}

/// One container as a row of columns.
fn row(c: &Container, event: Option<&str>) -> String {
    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    let cells = [
        c.runtime.as_str().to_owned(),
        dash(&c.name),
        dash(&short(&c.id)),
        dash(&c.image_name),
        c.pid.to_string(),
        c.mntns.to_string(),
        c.netns.to_string(),
        dash(&c.k8s.namespace),
        dash(&c.k8s.pod_name),
        dash(&c.k8s.container_name),
    ];
    pad(event.map(str::to_owned).into_iter().chain(cells), event.is_some())
}

/// Pads cells to the column widths (control bytes escaped: names come from runtimes).
fn pad(cells: impl Iterator<Item = String>, with_event: bool) -> String {
    let widths = with_event
        .then_some(7)
        .into_iter()
        .chain(COLUMNS.iter().map(|(_, w)| *w));
    let mut line = String::new();
    for (cell, width) in cells.zip(widths) {
        let cell = rig_kernel::input::escape_control(&cell);
        line.push_str(&format!("{cell:<width$} "));
    }
    line.trim_end().to_owned()
}

/// An id cut to 12 characters, as docker and IG print them.
fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// One container as a JSON object with IG's field names (and `"event"` in watch mode).
fn json(c: &Container, node: &str, event: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "runtime": {
            "runtimeName": c.runtime.as_str(),
            "containerId": c.id,
            "containerName": c.name,
            "containerImageName": c.image_name,
            "containerImageDigest": c.image_digest,
        },
        "k8s": {
            "namespace": c.k8s.namespace,
            "podName": c.k8s.pod_name,
            "containerName": c.k8s.container_name,
            "podLabels": c.k8s.pod_labels,
            "podUid": c.k8s.pod_uid,
            "node": node,
        },
        "pid": c.pid,
        "mntns": c.mntns,
        "netns": c.netns,
    });
    if let (Some(e), Some(obj)) = (event, v.as_object_mut()) {
        obj.insert("event".into(), e.into());
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rig_host::containers::{K8sMeta, RuntimeName};

    fn container() -> Container {
        Container {
            id: "0123456789abcdef0123".into(),
            name: "web".into(),
            runtime: RuntimeName::Containerd,
            runtime_namespace: "default".into(),
            image_name: "docker.io/library/busybox:latest".into(),
            image_digest: "sha256:aa".into(),
            pid: 42,
            mntns: 4_026_532_000,
            netns: 4_026_532_001,
            labels: Default::default(),
            k8s: K8sMeta {
                namespace: "shop".into(),
                pod_labels: [("app".to_owned(), "cart".to_owned())].into(),
                ..K8sMeta::default()
            },
            exited_at: None,
        }
    }

    #[test]
    fn rows_and_objects() {
        let c = container();
        let r = row(&c, None);
        assert!(r.starts_with("containerd web"), "{r}");
        assert!(r.contains(" 0123456789ab "), "{r}");
        assert!(!r.contains("0123456789abc"), "{r}");
        assert!(header(true).starts_with("EVENT   RUNTIME"));
        let v: serde_json::Value = serde_json::from_str(&json(&c, "n1", Some("added"))).expect("json");
        assert_eq!(v["event"], "added");
        assert_eq!(v["runtime"]["containerId"], "0123456789abcdef0123");
        assert_eq!(v["k8s"]["podLabels"]["app"], "cart");
        assert_eq!(v["k8s"]["node"], "n1");
        assert_eq!(v["mntns"], 4_026_532_000_u64);
    }
}
