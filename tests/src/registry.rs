//! A real OCI registry for the image tests: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 at a free port, with its own storage in a temporary directory, killed and removed
//! when the fixture drops — also when the test fails. No mock: every push and pull in the tests
//! goes through the same HTTP API a production registry serves.
//!
//! Also here: a bare-bones HTTP GET (so tests read what the registry holds without rig), and a
//! proxy that relays a registry until a byte budget is spent and then vanishes, to show what a
//! registry disappearing mid-pull does.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The registry binary (`$RIG_TEST_REGISTRY` overrides).
pub fn registry_bin() -> PathBuf {
    std::env::var_os("RIG_TEST_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"))
}

/// A free TCP port on 127.0.0.1 (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A running `docker-registry`, killed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
}

/// A user the auth-enabled registry knows: (name, password).
pub const TEST_USER: (&str, &str) = ("rig", "rig-secret");
/// bcrypt of [`TEST_USER`]'s password, as htpasswd stores it.
const TEST_HTPASSWD: &str = "rig:$2a$05$wYwVUSwiQM5hxQKqRD3A9OSlZ6yGDgf46M8z/sNhlvTL8Mbu8WWh.\n";

impl Registry {
    /// Starts an open registry.
    pub fn start() -> Registry {
        Self::spawn(false)
    }

    /// Starts a registry that requires basic auth as [`TEST_USER`].
    pub fn start_with_auth() -> Registry {
        Self::spawn(true)
    }

    fn spawn(auth: bool) -> Registry {
        let bin = registry_bin();
        assert!(
            bin.is_file(),
            "{} not found: the image tests need Debian's docker-registry (apt-get install docker-registry; ./setup.sh does)",
            bin.display()
        );
        let mut dir = tempfile::tempdir().expect("registry temp dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let mut last_err = String::new();
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: rig-test\n",
                storage.display()
            );
            if auth {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, TEST_HTPASSWD).expect("htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: rig-test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).expect("registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut reg = Registry {
                child: Some(child),
                addr,
                dir,
            };
            if reg.wait_ready() {
                return reg;
            }
            last_err = std::fs::read_to_string(reg.dir.path().join("registry.log")).unwrap_or_default();
            reg.stop();
            dir = std::mem::replace(&mut reg.dir, tempfile::tempdir().expect("temp dir"));
        }
        panic!("docker-registry did not start: {last_err}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            if let Ok(r) = http_get(&self.addr, "/v2/", &[])
                && (r.status == 200 || r.status == 401)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The registry's storage root (distribution's filesystem driver layout).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob with this digest (`sha256:…`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// GET a registry path.
    pub fn get(&self, path: &str, accept: &[&str]) -> HttpResponse {
        let accept = accept.join(", ");
        let headers: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("Accept", &accept)]
        };
        http_get(&self.addr, path, &headers).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Uploads a blob to `repository` the way any OCI client does (POST, then PUT with the
    /// digest) and returns its digest: images pushed by something other than rig.
    pub fn push_blob(&self, repository: &str, data: &[u8]) -> String {
        let digest = format!("sha256:{}", hex_sha256(data));
        let start = http_request(&self.addr, "POST", &format!("/v2/{repository}/blobs/uploads/"), &[], &[])
            .unwrap_or_else(|e| panic!("starting an upload: {e}"));
        assert_eq!(start.status, 202, "upload not accepted: {}", String::from_utf8_lossy(&start.body));
        let location = start.header("location").expect("upload location").to_owned();
        let path = location
            .strip_prefix(&format!("http://{}", self.addr))
            .unwrap_or(&location)
            .to_owned();
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = http_request(
            &self.addr,
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            data,
        )
        .unwrap_or_else(|e| panic!("uploading {digest}: {e}"));
        assert_eq!(put.status, 201, "blob refused: {}", String::from_utf8_lossy(&put.body));
        digest
    }

    /// Puts a manifest or index under `repository:reference` and returns its digest.
    pub fn put_manifest(&self, repository: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let put = http_request(
            &self.addr,
            "PUT",
            &format!("/v2/{repository}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            body,
        )
        .unwrap_or_else(|e| panic!("putting manifest {reference}: {e}"));
        assert_eq!(put.status, 201, "manifest refused: {}", String::from_utf8_lossy(&put.body));
        format!("sha256:{}", hex_sha256(body))
    }

    /// Kills the registry (it is gone: connections are refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What [`http_get`] read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A minimal HTTP/1.1 GET (Connection: close; plain and chunked bodies).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    http_request(addr, "GET", path, headers, &[])
}

/// A minimal HTTP/1.1 request with a body (Connection: close; plain and chunked responses).
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut hdrs = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            hdrs.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let chunked = hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend(chunk);
            line.clear();
            r.read_line(&mut line)?;
        }
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse {
        status,
        headers: hdrs,
        body,
    })
}

/// A TCP proxy to a registry that relays until `budget` response bytes have passed, then cuts
/// every connection and stops listening: a registry vanishing in the middle of a transfer.
#[derive(Debug)]
pub struct VanishingProxy {
    /// `127.0.0.1:PORT` to give rig instead of the registry's.
    pub addr: String,
    gone: Arc<AtomicBool>,
}

impl VanishingProxy {
    /// Starts relaying to `upstream`.
    pub fn start(upstream: &str, budget: usize) -> VanishingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let gone = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_owned();
        let g = gone.clone();
        std::thread::spawn(move || {
            while !g.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        relay(client, server, g.clone(), sent.clone(), budget);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // Dropping the listener: new connections are refused from now on.
        });
        VanishingProxy { addr, gone }
    }

    /// Whether the budget ran out.
    pub fn vanished(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

impl Drop for VanishingProxy {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, server: TcpStream, gone: Arc<AtomicBool>, sent: Arc<AtomicUsize>, budget: usize) {
    let (c2, s2) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
    // client → server: requests, unmetered.
    std::thread::spawn(move || {
        let (mut from, mut to) = (c2, s2);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    // server → client: metered; past the budget both ends are cut.
    std::thread::spawn(move || {
        let (mut from, mut to) = (server, client);
        let mut buf = [0u8; 16 * 1024];
        loop {
            if gone.load(Ordering::SeqCst) {
                break;
            }
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let total = sent.fetch_add(n, Ordering::SeqCst) + n;
            let n = if total > budget {
                gone.store(true, Ordering::SeqCst);
                n.saturating_sub(total - budget)
            } else {
                n
            };
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// Runs `rig ARGS` with extra environment variables, to completion.
pub fn rig_env(args: &[&str], env: &[(&str, &str)]) -> crate::RigOutput {
    let out = Command::new(crate::rig_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "rig_host=info,warn")
        .stdin(Stdio::null())
        .output()
        .expect("spawn rig");
    crate::RigOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Checks that a store directory is a well-formed OCI layout whose every tag's tree is present
/// and intact; returns its tags (`org.opencontainers.image.ref.name`) mapped to digests.
pub fn check_store(root: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("index.json")).unwrap_or_else(|e| panic!("{}/index.json: {e}", root.display())),
    )
    .unwrap_or_else(|e| panic!("{}/index.json is not valid JSON: {e}", root.display()));
    assert_eq!(index["schemaVersion"], 2);
    assert!(root.join("oci-layout").is_file(), "oci-layout missing");
    let mut tags = Vec::new();
    for m in index["manifests"].as_array().expect("manifests") {
        check_tree(root, m);
        let name = m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("every entry is tagged")
            .to_owned();
        tags.push((name, m["digest"].as_str().expect("digest").to_owned()));
    }
    tags
}

fn check_tree(root: &Path, desc: &serde_json::Value) {
    let digest = desc["digest"].as_str().expect("digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256");
    let path = root.join("blobs/sha256").join(hex);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("blob {digest} missing: {e}"));
    assert_eq!(hex_sha256(&data), hex, "blob {digest} is corrupt");
    assert_eq!(
        data.len() as u64,
        desc["size"].as_u64().expect("size"),
        "blob {digest} size"
    );
    let media = desc["mediaType"].as_str().unwrap_or_default();
    if media.ends_with("image.index.v1+json") {
        let v: serde_json::Value = serde_json::from_slice(&data).expect("index JSON");
        for m in v["manifests"].as_array().expect("manifests") {
            check_tree(root, m);
        }
    } else if media.ends_with("image.manifest.v1+json") {
        let v: serde_json::Value = serde_json::from_slice(&data).expect("manifest JSON");
        check_tree(root, &v["config"]);
        for l in v["layers"].as_array().expect("layers") {
            check_tree(root, l);
        }
    }
}

/// The lower-case hex SHA-256 of `data` (what `blobs/sha256/` names a blob by).
pub fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}
