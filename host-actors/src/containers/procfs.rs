//! What `/proc` says about containers: a process's namespace inodes, the container id hidden in
//! its cgroup path, and its PID inside its own PID namespace.
//!
//! Every runtime puts the container's id into the cgroup it creates, so a process rig has never
//! heard of still names its container: systemd drivers use `cri-containerd-<id>.scope`,
//! `docker-<id>.scope`, `crio-<id>.scope` or `libpod-<id>.scope`; cgroupfs drivers use
//! `/kubepods/<qos>/pod<uid>/<id>` or `/docker/<id>`; containerd's own default (as `ctr run` does)
//! is `/<namespace>/<id>` with any id. That last form is only trusted for namespaces the caller
//! knows are containerd's, or when a runtime monitor (a containerd shim, conmon) is among the
//! process's ancestors ([`under_monitor`]), since `/<anything>/<anything>` is also how plain host
//! cgroups look (this very sandbox runs in `/process_api/<32 hex digits>`).
//! Functions here take the proc root as an argument so tests can point them at a copy.

use std::io;
use std::path::Path;

/// The inode of a process's namespace of kind `ns` (`mnt`, `net`, `pid`…): the number eBPF
/// programs see as `gadget_mntns_id` / `gadget_netns_id`.
pub fn ns_inode(proc_root: &Path, pid: u32, ns: &str) -> io::Result<u64> {
    let link = proc_root.join(pid.to_string()).join("ns").join(ns);
    let target = std::fs::read_link(&link)?;
    let text = target.to_string_lossy();
    parse_ns_link(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unexpected link {text:?}", link.display()),
        )
    })
}

/// Parses `mnt:[4026531841]` into 4026531841.
fn parse_ns_link(text: &str) -> Option<u64> {
    let (_, rest) = text.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

/// Prefixes that systemd cgroup drivers put before a container id in a scope's name.
const SCOPE_PREFIXES: [&str; 5] = ["cri-containerd-", "docker-", "crio-", "libpod-", "containerd-"];

/// The container id in the text of a `/proc/PID/cgroup` file, if any line names one.
/// `containerd_namespaces` are the namespaces for which `/<namespace>/<id>` counts (`"*"`: any).
pub fn container_id(cgroup_file: &str, containerd_namespaces: &[&str]) -> Option<String> {
    cgroup_file
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(|path| id_in_path(path, containerd_namespaces))
}

/// The container id in one cgroup path.
fn id_in_path(path: &str, containerd_namespaces: &[&str]) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for part in parts.iter().rev() {
        let name = part.strip_suffix(".scope").unwrap_or(part);
        // Conmon (podman's and CRI-O's monitor) lives in its own scope: not the container.
        if name.contains("conmon") {
            continue;
        }
        for prefix in SCOPE_PREFIXES {
            if let Some(id) = name.strip_prefix(prefix)
                && is_long_hex(id)
            {
                return Some(id.to_owned());
            }
        }
        if is_long_hex(name) {
            return Some(name.to_owned());
        }
    }
    if let [ns, id] = parts.as_slice()
        && (containerd_namespaces.contains(ns) || containerd_namespaces.contains(&"*"))
        && ![".scope", ".slice", ".service"].iter().any(|s| id.ends_with(s))
    {
        return Some((*id).to_owned());
    }
    None
}

/// 64 hex digits: what containerd, docker, CRI-O and podman generate.
fn is_long_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A process's PID inside its innermost PID namespace (the last field of `NSpid:`), e.g. 1 for
/// a container's init.
pub fn pid_in_container(proc_root: &Path, host_pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(proc_root.join(host_pid.to_string()).join("status")).ok()?;
    parse_nspid(&status)
}

/// The last field of the `NSpid:` line of a status file.
fn parse_nspid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// The numeric entries of a proc root (the PIDs), in directory order.
pub fn pids(proc_root: &Path) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        if let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            out.push(pid);
        }
    }
    Ok(out)
}

/// Some process whose mount namespace is `mntns`, found by scanning the proc root (processes
/// that vanish or deny access meanwhile are skipped).
pub fn process_in_mntns(proc_root: &Path, mntns: u64) -> Option<u32> {
    pids(proc_root)
        .ok()?
        .into_iter()
        .find(|&pid| ns_inode(proc_root, pid, "mnt").is_ok_and(|ino| ino == mntns))
}

/// Runtime monitors whose descendants are containers: containerd's shims and podman's conmon.
const MONITORS: [&str; 2] = ["containerd-shim", "conmon"];

/// True when a runtime monitor (a containerd shim, conmon) is among the process's ancestors:
/// then a `/<namespace>/<id>` cgroup is a container's even in a namespace nobody listed.
pub fn under_monitor(proc_root: &Path, pid: u32) -> bool {
    let mut pid = pid;
    for _ in 0..32 {
        let Ok(status) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status")) else {
            return false;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_default()
        };
        if MONITORS.iter().any(|m| field("Name:").starts_with(m)) {
            return true;
        }
        match field("PPid:").parse() {
            Ok(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

/// The container id of a running process, from its cgroup file.
pub fn container_id_of(proc_root: &Path, pid: u32, containerd_namespaces: &[&str]) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    container_id(&text, containerd_namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f6b7c1e2d4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c";

    #[test]
    fn systemd_scopes_of_each_runtime() {
        for line in [
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{ID}.scope"
            ),
            format!("0::/system.slice/docker-{ID}.scope"),
            format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab_cd.slice/crio-{ID}.scope"),
            format!("0::/machine.slice/libpod-{ID}.scope/container"),
            format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"),
        ] {
            assert_eq!(container_id(&line, &[]).as_deref(), Some(ID), "{line}");
        }
    }

    #[test]
    fn cgroupfs_paths() {
        let k8s = format!("12:memory:/kubepods/burstable/pod5f1d3c4e-0000-4000-8000-000000000001/{ID}\n0::/");
        assert_eq!(container_id(&k8s, &[]).as_deref(), Some(ID));
        let docker = format!("0::/docker/{ID}");
        assert_eq!(container_id(&docker, &[]).as_deref(), Some(ID));
    }

    #[test]
    fn containerd_namespace_paths_only_for_known_namespaces() {
        assert_eq!(container_id("0::/default/web", &["default"]).as_deref(), Some("web"));
        assert_eq!(
            container_id("4:memory:/default/web\n0::/", &["default"]).as_deref(),
            Some("web")
        );
        assert_eq!(container_id("0::/default/web", &["k8s.io"]), None);
        assert_eq!(container_id("0::/rigtest-1/web", &["*"]).as_deref(), Some("web"));
    }

    #[test]
    fn host_cgroups_name_no_container() {
        for text in [
            "0::/",
            "0::/init.scope",
            "0::/user.slice/user-0.slice/session-3.scope",
            "0::/system.slice/containerd.service",
            "4:memory:/process_api/945cbd45c23f6b9f0780e762ff03f593\n0::/",
            "garbage without colons",
            "",
        ] {
            assert_eq!(container_id(text, &["default", "system.slice"]), None, "{text}");
        }
        let conmon = format!("0::/machine.slice/libpod-conmon-{ID}.scope");
        assert_eq!(container_id(&conmon, &[]), None);
    }

    #[test]
    fn ns_links_and_nspid() {
        assert_eq!(parse_ns_link("mnt:[4026531841]"), Some(4_026_531_841));
        assert_eq!(parse_ns_link("mnt:4026531841"), None);
        assert_eq!(parse_nspid("Name:\tsh\nNSpid:\t4242\t1\nNSpgid:\t1\n"), Some(1));
        assert_eq!(parse_nspid("Name:\tsh\n"), None);
    }

    #[test]
    fn own_process_on_the_real_proc() {
        let proc_root = Path::new("/proc");
        let me = std::process::id();
        let mnt = ns_inode(proc_root, me, "mnt").expect("own mount namespace");
        assert!(mnt > 0);
        assert!(ns_inode(proc_root, me, "net").expect("own network namespace") > 0);
        assert_eq!(
            process_in_mntns(proc_root, mnt).map(|p| ns_inode(proc_root, p, "mnt").ok()),
            Some(Some(mnt))
        );
        assert!(pid_in_container(proc_root, me).is_some());
        assert!(
            !under_monitor(proc_root, me),
            "a test process has no shim among its ancestors"
        );
        assert_eq!(process_in_mntns(proc_root, 1), None);
    }
}
