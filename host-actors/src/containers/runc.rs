//! runc and crun state directories: containers started by the OCI runtime directly (or by a
//! manager rig cannot talk to).
//!
//! runc keeps `<root>/<id>/state.json` (`init_process_pid`, `created`, `config.labels` as
//! `"key=value"` strings); crun keeps the same file name in newer versions and `<root>/<id>/status`
//! (`pid`, `created`) in older ones. containerd's shims use one runc root per namespace,
//! `/run/containerd/runc/<namespace>/<id>/`, so a root is searched two levels deep. Containers
//! whose init process is gone are left out: a state directory outlives a crash. The actor gives
//! containerd's own records priority over what is found here, so nothing is listed twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Container, ContainersError, RuntimeName, containerd, procfs};

/// The fields of runc's `state.json` (and crun's `status`) rig reads.
#[derive(Debug, Deserialize)]
struct State {
    #[serde(default)]
    id: String,
    #[serde(default, alias = "pid")]
    init_process_pid: u32,
    #[serde(default)]
    config: StateConfig,
}

/// `config` in runc's state: only the labels.
#[derive(Debug, Default, Deserialize)]
struct StateConfig {
    #[serde(default)]
    labels: Vec<String>,
}

/// Every running container under the given roots, found through `runtime`'s state files.
/// Unreadable or malformed entries are logged at debug level and skipped.
pub fn scan(roots: &[PathBuf], runtime: RuntimeName, proc_root: &Path) -> Vec<Container> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(root) else { continue };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            if state_file(&dir).is_some() {
                push(&mut out, &dir, "", runtime, proc_root);
                continue;
            }
            // containerd's layout: <root>/<namespace>/<id>/state.json.
            let namespace = entry.file_name().to_string_lossy().into_owned();
            let Ok(inner) = std::fs::read_dir(&dir) else { continue };
            for e in inner.flatten() {
                push(&mut out, &e.path(), &namespace, runtime, proc_root);
            }
        }
    }
    out
}

/// The state file of a container directory, if it has one.
fn state_file(dir: &Path) -> Option<PathBuf> {
    ["state.json", "status"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// Reads one container directory and adds its container when it runs.
fn push(out: &mut Vec<Container>, dir: &Path, namespace: &str, runtime: RuntimeName, proc_root: &Path) {
    let Some(file) = state_file(dir) else { return };
    match read(&file, dir, namespace, runtime, proc_root) {
        Ok(Some(c)) => out.push(c),
        Ok(None) => {}
        Err(e) => tracing::debug!("{runtime} state: {e}"),
    }
}

/// One state file as a container; `None` when its init process no longer runs.
fn read(
    file: &Path,
    dir: &Path,
    namespace: &str,
    runtime: RuntimeName,
    proc_root: &Path,
) -> Result<Option<Container>, ContainersError> {
    let text = std::fs::read(file).map_err(|source| ContainersError::Io {
        path: file.to_owned(),
        source,
    })?;
    let state: State = serde_json::from_slice(&text).map_err(|e| ContainersError::State {
        path: file.to_owned(),
        reason: e.to_string(),
    })?;
    let id = if state.id.is_empty() {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        state.id
    };
    Ok(from_parts(
        id,
        state.init_process_pid,
        parse_labels(&state.config.labels),
        namespace,
        runtime,
        proc_root,
    ))
}

/// `"key=value"` strings as a map (an entry without `=` is a key with an empty value).
fn parse_labels(labels: &[String]) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// A container from a state file's facts; `None` when the PID has no readable namespaces.
fn from_parts(
    id: String,
    pid: u32,
    labels: BTreeMap<String, String>,
    namespace: &str,
    runtime: RuntimeName,
    proc_root: &Path,
) -> Option<Container> {
    if pid == 0 {
        return None;
    }
    let mntns = procfs::ns_inode(proc_root, pid, "mnt").ok()?;
    let netns = procfs::ns_inode(proc_root, pid, "net").unwrap_or(0);
    Some(Container {
        name: containerd::container_name(&id, &labels),
        k8s: containerd::k8s_meta(&labels, None),
        id,
        runtime,
        runtime_namespace: namespace.to_owned(),
        image_name: String::new(),
        image_digest: String::new(),
        pid,
        mntns,
        netns,
        labels,
        exited_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runc state.json cut from a real one (`runc run` under containerd), pointing at this
    /// test's own PID so the namespaces resolve.
    fn runc_state(pid: u32) -> String {
        format!(
            r#"{{"id":"web","init_process_pid":{pid},"init_process_start":123,"created":"2026-12-03T10:00:00.5Z",
            "config":{{"no_pivot_root":false,"rootfs":"/run/containerd/io.containerd.runtime.v2.task/default/web/rootfs",
            "labels":["bundle=/run/containerd/io.containerd.runtime.v2.task/default/web","app=cart","flag"]}},
            "rootless":false,"cgroup_paths":{{"":"/sys/fs/cgroup/default/web"}}}}"#
        )
    }

    #[test]
    fn reads_runc_and_crun_layouts() {
        let me = std::process::id();
        let tmp = tempfile::tempdir().expect("tempdir");
        let nested = tmp.path().join("default").join("web");
        std::fs::create_dir_all(&nested).expect("mkdir");
        std::fs::write(nested.join("state.json"), runc_state(me)).expect("write");
        let flat = tmp.path().join("solo");
        std::fs::create_dir_all(&flat).expect("mkdir");
        std::fs::write(
            flat.join("status"),
            format!(r#"{{"pid":{me},"bundle":"/b","created":"x"}}"#),
        )
        .expect("write");
        let broken = tmp.path().join("broken");
        std::fs::create_dir_all(&broken).expect("mkdir");
        std::fs::write(broken.join("state.json"), "{not json").expect("write");
        let dead = tmp.path().join("dead");
        std::fs::create_dir_all(&dead).expect("mkdir");
        std::fs::write(dead.join("state.json"), r#"{"id":"dead","init_process_pid":0}"#).expect("write");

        let mut found = scan(
            &[tmp.path().to_owned(), tmp.path().join("missing")],
            RuntimeName::Crun,
            Path::new("/proc"),
        );
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<_> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["solo", "web"]);
        let web = &found[1];
        assert_eq!(web.runtime_namespace, "default");
        assert_eq!(web.runtime, RuntimeName::Crun);
        assert_eq!(web.pid, me);
        assert_eq!(
            web.mntns,
            procfs::ns_inode(Path::new("/proc"), me, "mnt").expect("mntns")
        );
        assert_eq!(web.labels.get("app").map(String::as_str), Some("cart"));
        assert_eq!(web.labels.get("flag").map(String::as_str), Some(""));
        assert_eq!(found[0].runtime_namespace, "");
    }
}
