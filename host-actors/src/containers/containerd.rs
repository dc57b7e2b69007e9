//! containerd as a source of containers: its gRPC API (containerd-client, tonic over the unix
//! socket), every namespace (`default`, `k8s.io`, `moby`…).
//!
//! A listing is three list calls per namespace, all namespaces at once: containers (id, image,
//! labels), tasks (the init PID, a host PID, so `/proc/PID/ns/*` gives the namespace inodes) and
//! images (name → digest). Nothing is asked per container, so a hundred containers cost the same
//! round trips as one. After the listing the source follows the event stream (all namespaces):
//! `/tasks/create` (the init exists, in its namespaces, before the entrypoint runs) and
//! `/tasks/start` fetch that one container, `/tasks/exit` of an init process, `/tasks/delete`
//! and `/containers/delete` remove it. The subscription request goes out before the listing, so a
//! container starting in between is not missed (containerd answers the subscription only with
//! its first event, so it cannot be awaited before listing).
//!
//! Supervision: when the socket is missing, refuses, or the stream ends, the actor keeps the last
//! table; this source warns once per outage (debug only while the default socket has never
//! answered: a host without containerd is normal), retries with exponential backoff from 100 ms
//! to 5 s, and on reconnect lists again: the actor reconciles the new listing with the old one.
//!
//! Names follow IG: the Kubernetes container name, else `nerdctl/name`, else the id. Pod labels
//! are the sandbox container's labels (`io.cri-containerd.kind=sandbox`, same pod UID) when the
//! sandbox is known, else the container's own, without `io.kubernetes.*`, `io.cri-containerd.*` and
//! `io.containerd.*` (bookkeeping containerd copies from the image, like the stop signal).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use containerd_client::services::v1::{
    Container as Record, GetContainerRequest, ListContainersRequest, ListImagesRequest, ListNamespacesRequest,
    ListTasksRequest, SubscribeRequest,
};
use containerd_client::tonic::{Request, Status};
use containerd_client::types::v1::Status as TaskStatus;
use containerd_client::{Client, events};
use kameo::actor::ActorRef;
use prost::Message;

use super::actor::{ContainersActor, Update};
use super::{Container, ContainersConfig, ContainersError, K8sMeta, RuntimeName, cri_labels, procfs};

/// Where containerd listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";

/// Longest wait for one listing or one container fetch.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The event topics that change the table.
const TOPICS: [&str; 5] = [
    "/tasks/create",
    "/tasks/start",
    "/tasks/exit",
    "/tasks/delete",
    "/containers/delete",
];

/// Label prefixes that are runtime bookkeeping, not the pod's labels (`io.containerd.*`: the
/// image's stop signal and the like, which containerd copies onto every container).
const BOOKKEEPING: [&str; 3] = ["io.kubernetes.", "io.cri-containerd.", "io.containerd."];

/// The name users select a container by: the Kubernetes container name, else `nerdctl/name`,
/// else the id.
pub fn container_name(id: &str, labels: &BTreeMap<String, String>) -> String {
    [cri_labels::CONTAINER_NAME, "nerdctl/name"]
        .iter()
        .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()))
        .cloned()
        .unwrap_or_else(|| id.to_owned())
}

/// Kubernetes identity from a container's CRI labels; pod labels from `sandbox_labels` when
/// the pod's sandbox is known, else from `labels`, without the bookkeeping labels.
pub fn k8s_meta(labels: &BTreeMap<String, String>, sandbox_labels: Option<&BTreeMap<String, String>>) -> K8sMeta {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let meta = K8sMeta {
        namespace: get(cri_labels::POD_NAMESPACE),
        pod_name: get(cri_labels::POD_NAME),
        pod_uid: get(cri_labels::POD_UID),
        container_name: get(cri_labels::CONTAINER_NAME),
        pod_labels: BTreeMap::new(),
    };
    if !meta.is_pod() {
        return meta;
    }
    let pod_labels = sandbox_labels
        .unwrap_or(labels)
        .iter()
        .filter(|(k, _)| !BOOKKEEPING.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    K8sMeta { pod_labels, ..meta }
}

/// A request carrying containerd's namespace header.
fn in_namespace<T>(message: T, namespace: &str) -> Result<Request<T>, Status> {
    let mut req = Request::new(message);
    let value = namespace
        .parse()
        .map_err(|_| Status::invalid_argument(format!("namespace {namespace:?} is not a header value")))?;
    req.metadata_mut().insert("containerd-namespace", value);
    Ok(req)
}

/// One namespace's records, as the list calls return them.
struct Listing {
    namespace: String,
    records: Vec<Record>,
    /// Container id → init PID of its running task.
    pids: HashMap<String, u32>,
    /// Image name → digest.
    digests: HashMap<String, String>,
    /// A task's init read the moment its event arrived, used when it is gone by the time of the
    /// listing (an entrypoint like `/bin/echo` lives for a millisecond).
    early: Option<Early>,
}

/// A container's init and its namespaces, read from `/proc` as soon as containerd announced it.
#[derive(Debug, Clone)]
struct Early {
    id: String,
    pid: u32,
    mntns: u64,
    netns: u64,
}

impl Early {
    /// Reads the namespaces of a task's init now; `None` when it is already gone.
    fn read(proc_root: &Path, id: String, pid: u32) -> Option<Early> {
        let mntns = procfs::ns_inode(proc_root, pid, "mnt").ok()?;
        let netns = procfs::ns_inode(proc_root, pid, "net").unwrap_or(0);
        Some(Early { id, pid, mntns, netns })
    }
}

/// Lists one namespace: containers, tasks and images, concurrently.
async fn list_namespace(client: &Client, namespace: String, filter: Vec<String>) -> Result<Listing, Status> {
    let mut containers = client.containers();
    let mut tasks = client.tasks();
    let mut images = client.images();
    let (records, task_list, image_list) = tokio::try_join!(
        containers.list(in_namespace(ListContainersRequest { filters: filter }, &namespace)?),
        tasks.list(in_namespace(ListTasksRequest::default(), &namespace)?),
        images.list(in_namespace(ListImagesRequest::default(), &namespace)?),
    )?;
    let pids = task_list
        .into_inner()
        .tasks
        .into_iter()
        .filter(|t| {
            // A created task's init already sits in the container's namespaces, waiting to exec
            // the entrypoint: knowing it then names the entrypoint's first event.
            [
                TaskStatus::Created,
                TaskStatus::Running,
                TaskStatus::Paused,
                TaskStatus::Pausing,
            ]
            .iter()
            .any(|s| *s as i32 == t.status)
        })
        .map(|t| (t.id, t.pid))
        .collect();
    let digests = image_list
        .into_inner()
        .images
        .into_iter()
        .filter_map(|i| Some((i.name, i.target?.digest)))
        .collect();
    Ok(Listing {
        early: None,
        namespace,
        records: records.into_inner().containers,
        pids,
        digests,
    })
}

impl Listing {
    /// The running containers of this namespace, with their sandboxes' labels as pod labels.
    fn containers(self, proc_root: &Path) -> Vec<Container> {
        let labels: Vec<BTreeMap<String, String>> = self
            .records
            .iter()
            .map(|r| r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .collect();
        let sandboxes: HashMap<&str, &BTreeMap<String, String>> = labels
            .iter()
            .filter(|l| l.get(cri_labels::CRI_KIND).is_some_and(|k| k == "sandbox"))
            .filter_map(|l| Some((l.get(cri_labels::POD_UID)?.as_str(), l)))
            .collect();
        let mut out = Vec::new();
        for (record, labels) in self.records.iter().zip(&labels) {
            let early = self.early.as_ref().filter(|e| e.id == record.id);
            let Some(pid) = self.pids.get(&record.id).copied().or(early.map(|e| e.pid)) else {
                continue;
            };
            let sandbox = labels
                .get(cri_labels::POD_UID)
                .and_then(|uid| sandboxes.get(uid.as_str()).copied());
            let (mntns, netns) = match procfs::ns_inode(proc_root, pid, "mnt") {
                Ok(mntns) => (mntns, procfs::ns_inode(proc_root, pid, "net").unwrap_or(0)),
                Err(_) => match early.filter(|e| e.pid == pid) {
                    Some(e) => (e.mntns, e.netns),
                    None => {
                        tracing::debug!(id = %record.id, pid, "containerd task has no readable mount namespace");
                        continue;
                    }
                },
            };
            out.push(Container {
                id: record.id.clone(),
                name: container_name(&record.id, labels),
                runtime: RuntimeName::Containerd,
                runtime_namespace: self.namespace.clone(),
                image_name: record.image.clone(),
                image_digest: self.digests.get(&record.image).cloned().unwrap_or_default(),
                pid,
                mntns,
                netns,
                labels: labels.clone(),
                k8s: k8s_meta(labels, sandbox),
                exited_at: None,
            });
        }
        out
    }
}

/// Every running container in every namespace.
pub async fn list(client: &Client, proc_root: &Path) -> Result<Vec<Container>, Status> {
    let namespaces = client
        .namespaces()
        .list(ListNamespacesRequest::default())
        .await?
        .into_inner()
        .namespaces;
    let mut set = tokio::task::JoinSet::new();
    for ns in namespaces {
        let client = Client::from(client.channel());
        set.spawn(async move { list_namespace(&client, ns.name, Vec::new()).await });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        let listing = joined.map_err(|e| Status::internal(format!("listing task: {e}")))??;
        out.extend(listing.containers(proc_root));
    }
    Ok(out)
}

/// One container that just started, with its pod's sandbox labels when it belongs to a pod.
async fn fetch(
    client: &Client,
    namespace: &str,
    id: &str,
    early: Option<Early>,
    proc_root: &Path,
) -> Result<Option<Container>, Status> {
    let record = client
        .containers()
        .get(in_namespace(GetContainerRequest { id: id.to_owned() }, namespace)?)
        .await?
        .into_inner()
        .container;
    let Some(record) = record else { return Ok(None) };
    // The pod's other records (its sandbox) come along in the same list call.
    let filter = match record.labels.get(cri_labels::POD_UID) {
        Some(uid) => vec![format!("labels.\"{}\"=={uid}", cri_labels::POD_UID)],
        None => vec![format!("id=={id}")],
    };
    let mut listing = list_namespace(client, namespace.to_owned(), filter).await?;
    listing.early = early;
    Ok(listing.containers(proc_root).into_iter().find(|c| c.id == id))
}

/// Why one connection ended.
fn failure(socket: &Path, reason: impl std::fmt::Display) -> ContainersError {
    ContainersError::Containerd {
        socket: socket.to_owned(),
        reason: reason.to_string(),
    }
}

/// An error and its sources, `a: b: c` (tonic's transport error alone says only "transport error").
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let part = s.to_string();
        // Wrappers often repeat their source's text.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = s.source();
    }
    text
}

/// Connects, subscribes, lists and follows events until the connection fails.
async fn session(
    config: &ContainersConfig,
    actor: &ActorRef<ContainersActor>,
    listed: &mut bool,
    resumed: bool,
) -> Result<(), ContainersError> {
    let socket = &config.containerd_socket;
    let client = Client::from_path(socket)
        .await
        .map_err(|e| failure(socket, with_sources(&e)))?;
    let filters = TOPICS.iter().map(|t| format!("topic==\"{t}\"")).collect();
    // containerd sends the stream's headers with its first event, so the subscription is
    // awaited only after the listing; it is sent first, on the same connection.
    let mut events = client.events();
    let mut subscription = AbortOnDrop(tokio::spawn(async move {
        events.subscribe(SubscribeRequest { filters }).await
    }));
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    let containers = tokio::time::timeout(CALL_TIMEOUT, list(&client, &config.proc_root))
        .await
        .map_err(|_| failure(socket, "listing timed out"))?
        .map_err(|e| failure(socket, e))?;
    if !resumed {
        tracing::debug!(socket = %socket.display(), containers = containers.len(), took = ?started.elapsed(), "containerd listed");
    } else {
        tracing::info!(socket = %socket.display(), containers = containers.len(), "containerd is back; table resynchronised");
    }
    *listed = true;
    let _ = actor
        .tell(Update::Listed {
            runtime: RuntimeName::Containerd,
            containers,
        })
        .await;
    let mut stream = match (&mut subscription.0).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(e)) => return Err(failure(socket, e)),
        Err(e) => return Err(failure(socket, format!("subscription task: {e}"))),
    };
    loop {
        let envelope = match stream.message().await {
            Ok(Some(e)) => e,
            Ok(None) => return Err(failure(socket, "event stream ended")),
            Err(e) => return Err(failure(socket, e)),
        };
        let Some(event) = envelope.event else { continue };
        let update = match envelope.topic.as_str() {
            "/tasks/create" | "/tasks/start" => {
                let decoded = if envelope.topic == "/tasks/create" {
                    events::TaskCreate::decode(&event.value[..]).map(|e| (e.container_id, e.pid))
                } else {
                    events::TaskStart::decode(&event.value[..]).map(|e| (e.container_id, e.pid))
                };
                let Ok((id, pid)) = decoded else { continue };
                // Before any call: the init may exec and exit while containerd answers.
                let early = Early::read(&config.proc_root, id.clone(), pid);
                match tokio::time::timeout(
                    CALL_TIMEOUT,
                    fetch(&client, &envelope.namespace, &id, early, &config.proc_root),
                )
                .await
                {
                    Ok(Ok(Some(container))) => Update::Started(container),
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => {
                        tracing::debug!(%id, "containerd: fetching a started container: {e}");
                        continue;
                    }
                    Err(_) => return Err(failure(socket, "fetching a started container timed out")),
                }
            }
            "/tasks/exit" => match events::TaskExit::decode(&event.value[..]) {
                // An exec'd process exiting is not the container's end.
                Ok(ev) if ev.id == ev.container_id || ev.id.is_empty() => exited(ev.container_id),
                _ => continue,
            },
            "/tasks/delete" => match events::TaskDelete::decode(&event.value[..]) {
                Ok(ev) if ev.id == ev.container_id || ev.id.is_empty() => exited(ev.container_id),
                _ => continue,
            },
            "/containers/delete" => match events::ContainerDelete::decode(&event.value[..]) {
                Ok(ev) => exited(ev.id),
                Err(_) => continue,
            },
            _ => continue,
        };
        if actor.tell(update).await.is_err() {
            return Ok(());
        }
    }
}

/// A task aborted when its handle is dropped (a session that ends takes its subscription along).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The update for a container that ended.
fn exited(id: String) -> Update {
    Update::Exited {
        runtime: RuntimeName::Containerd,
        id,
    }
}

/// The supervised source: runs sessions forever, with backoff between them. Ends when the
/// actor is gone.
pub(crate) async fn run(config: Arc<ContainersConfig>, actor: ActorRef<ContainersActor>) {
    let quiet_when_absent = config.containerd_socket == Path::new(DEFAULT_SOCKET);
    let mut reached = false;
    let mut warned = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listed = false;
        let result = session(&config, &actor, &mut listed, reached).await;
        if !actor.is_alive() {
            return;
        }
        if listed {
            // This session ended an outage (or was the first): the next failure warns again.
            reached = true;
            warned = false;
            backoff = Duration::from_millis(100);
        }
        if let Err(e) = result {
            if !reached && quiet_when_absent {
                tracing::debug!("{e} (no containerd on this host?)");
            } else if !warned {
                tracing::warn!("{e}; keeping the last known containers and retrying");
                warned = true;
            } else {
                tracing::debug!("{e}");
            }
        }
        if !reached {
            let _ = actor.tell(Update::Unreachable(RuntimeName::Containerd)).await;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn names_follow_ig() {
        let cri = labels(&[(cri_labels::CONTAINER_NAME, "app"), ("nerdctl/name", "n")]);
        assert_eq!(container_name("abc", &cri), "app");
        assert_eq!(container_name("abc", &labels(&[("nerdctl/name", "n")])), "n");
        assert_eq!(container_name("abc", &labels(&[("nerdctl/name", "")])), "abc");
        assert_eq!(container_name("abc", &BTreeMap::new()), "abc");
    }

    #[test]
    fn k8s_meta_from_cri_labels() {
        let own = labels(&[
            (cri_labels::POD_NAME, "cart-7d9"),
            (cri_labels::POD_NAMESPACE, "shop"),
            (cri_labels::POD_UID, "u1"),
            (cri_labels::CONTAINER_NAME, "app"),
            ("io.cri-containerd.kind", "container"),
            ("io.containerd.image.config.stop-signal", "SIGTERM"),
            ("app", "cart"),
        ]);
        let m = k8s_meta(&own, None);
        assert_eq!(
            (m.namespace.as_str(), m.pod_name.as_str(), m.pod_uid.as_str()),
            ("shop", "cart-7d9", "u1")
        );
        assert_eq!(m.container_name, "app");
        assert_eq!(m.pod_labels, labels(&[("app", "cart")]));
        let sandbox = labels(&[(cri_labels::POD_UID, "u1"), ("app", "cart"), ("tier", "web")]);
        assert_eq!(
            k8s_meta(&own, Some(&sandbox)).pod_labels,
            labels(&[("app", "cart"), ("tier", "web")])
        );
        let plain = k8s_meta(&labels(&[("app", "x")]), None);
        assert!(!plain.is_pod());
        assert!(plain.pod_labels.is_empty());
    }

    #[test]
    fn namespace_header_refuses_bad_text() {
        assert!(in_namespace((), "k8s.io").is_ok());
        assert!(in_namespace((), "bad\nname").is_err());
    }
}
