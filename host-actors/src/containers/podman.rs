//! podman as a source of containers: its REST API on a unix socket
//! (`GET /v4.0.0/libpod/containers/json`), spoken as plain HTTP/1.1 over a tokio `UnixStream`
//! (one request per connection, `Connection: close`; both `Content-Length` and chunked bodies).
//!
//! The listing gives `Id`, `Names`, `Image`, `ImageID`, `Pid` and `Labels`; the PID is a host PID,
//! so the namespace inodes come from `/proc`. A missing socket is normal (no podman here) and only
//! logged at debug level. The actor polls this source on its slow timer.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Container, ContainersError, RuntimeName, containerd, procfs};

/// Where rootful podman listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/podman/podman.sock";

/// The path of the listing call.
const LIST_PATH: &str = "/v4.0.0/libpod/containers/json";

/// Longest wait for one answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Largest answer read (a few thousand containers).
const MAX_BODY: u64 = 32 << 20;

/// One entry of podman's container list (only the fields rig reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    id: String,
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    image: String,
    #[serde(default, rename = "ImageID")]
    image_id: String,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Lists podman's running containers through its socket.
pub async fn list(socket: &Path, proc_root: &Path) -> Result<Vec<Container>, ContainersError> {
    let body = tokio::time::timeout(TIMEOUT, get(socket, LIST_PATH))
        .await
        .map_err(|_| podman_error(socket, "no answer within 3 s"))??;
    parse_list(&body, proc_root).map_err(|e| podman_error(socket, e))
}

/// A podman error naming the socket.
fn podman_error(socket: &Path, reason: impl std::fmt::Display) -> ContainersError {
    ContainersError::Podman {
        socket: socket.to_owned(),
        reason: reason.to_string(),
    }
}

/// One GET over the socket; returns the body of a 200 answer.
async fn get(socket: &Path, path: &str) -> Result<Vec<u8>, ContainersError> {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|source| ContainersError::Io {
            path: socket.to_owned(),
            source,
        })?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: d\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    let io = |source| ContainersError::Io {
        path: socket.to_owned(),
        source,
    };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut raw = Vec::new();
    (&mut stream).take(MAX_BODY).read_to_end(&mut raw).await.map_err(io)?;
    parse_response(&raw).map_err(|e| podman_error(socket, e))
}

/// The body of an HTTP/1.1 answer, when its status is 200.
fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("answer without a header end")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("answered {:?}", rig_kernel::input::shorten(status, 200)));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    if chunked { dechunk(body) } else { Ok(body.to_vec()) }
}

/// Joins the chunks of a chunked body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size without an end")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("chunk longer than the answer")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("chunk without its line end")?;
    }
}

/// podman's list as containers (entries without a live PID are left out).
fn parse_list(body: &[u8], proc_root: &Path) -> Result<Vec<Container>, String> {
    let entries: Vec<Entry> = serde_json::from_slice(body).map_err(|e| format!("container list: {e}"))?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            let mntns = procfs::ns_inode(proc_root, e.pid, "mnt").ok().filter(|_| e.pid != 0)?;
            let labels = e.labels.unwrap_or_default();
            let name = match e.names.as_ref().and_then(|n| n.first()) {
                Some(n) if !n.is_empty() => n.trim_start_matches('/').to_owned(),
                _ => containerd::container_name(&e.id, &labels),
            };
            let digest = match e.image_id.as_str() {
                "" => String::new(),
                id if id.contains(':') => id.to_owned(),
                id => format!("sha256:{id}"),
            };
            Some(Container {
                k8s: containerd::k8s_meta(&labels, None),
                name,
                runtime: RuntimeName::Podman,
                runtime_namespace: String::new(),
                image_name: e.image,
                image_digest: digest,
                pid: e.pid,
                mntns,
                netns: procfs::ns_inode(proc_root, e.pid, "net").unwrap_or(0),
                labels,
                exited_at: None,
                id: e.id,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer recorded from podman 4.9 (`curl --unix-socket /run/podman/podman.sock
    /// http://d/v4.0.0/libpod/containers/json`), with the PIDs replaced by `{PID}`.
    const RECORDED: &str = r#"[{"AutoRemove":false,"Command":["sleep","1000"],"Created":"2026-12-01T09:12:44.1Z","CreatedAt":"","Exited":false,"ExitedAt":-62135596800,"ExitCode":0,"Id":"9d1b3f0c5a7e4c2b8f6d0e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e","Image":"docker.io/library/alpine:latest","ImageID":"c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67","IsInfra":false,"Labels":{"app":"cart","io.kubernetes.pod.name":"cart-7d9"},"Mounts":[],"Names":["web"],"Namespaces":{},"Networks":[],"Pid":{PID},"Pod":"","PodName":"","Ports":null,"Restarts":0,"Size":null,"StartedAt":1764580364,"State":"running","Status":""},
{"Id":"0000000000000000000000000000000000000000000000000000000000000001","Image":"docker.io/library/busybox:latest","ImageID":"","Labels":null,"Names":["stopped"],"Pid":0,"State":"exited"}]"#;

    #[test]
    fn parses_a_recorded_listing() {
        let me = std::process::id();
        let body = RECORDED.replace("{PID}", &me.to_string());
        let found = parse_list(body.as_bytes(), Path::new("/proc")).expect("parse");
        assert_eq!(found.len(), 1, "the stopped one is left out");
        let c = &found[0];
        assert_eq!(c.name, "web");
        assert_eq!(c.runtime, RuntimeName::Podman);
        assert_eq!(c.image_name, "docker.io/library/alpine:latest");
        assert!(c.image_digest.starts_with("sha256:c1aabb73"));
        assert_eq!(c.pid, me);
        assert_eq!(c.mntns, procfs::ns_inode(Path::new("/proc"), me, "mnt").expect("mntns"));
        assert_eq!(c.k8s.pod_name, "cart-7d9");
        assert!(parse_list(b"{\"not\":\"a list\"}", Path::new("/proc")).is_err());
    }

    #[test]
    fn parses_http_answers() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain).expect("plain"), b"[]");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[{}\r\n1\r\n]\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).expect("chunked"), b"[{}]");
        assert!(parse_response(b"HTTP/1.1 500 Internal Server Error\r\n\r\n{}").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort").is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    #[tokio::test]
    async fn a_missing_socket_is_an_io_error() {
        let err = list(Path::new("/nonexistent/podman.sock"), Path::new("/proc"))
            .await
            .unwrap_err();
        assert!(matches!(err, ContainersError::Io { .. }), "{err}");
    }
}
