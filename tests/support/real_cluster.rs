//! What the real-server tests share: a control plane set up as a cluster would be (OpenShift
//! CRDs, our CRDs and manifests, the sample cluster mid-update, its producers' service
//! accounts), and the controller run as its own process under its own service account's token,
//! bound only by the shipped RBAC.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use envtest::ControlPlane;

#[path = "ports.rs"]
mod ports;
use ports::free_port;
use serde_json::Value;

/// The controller's namespace and service account, as `manifests/` ship them.
pub const NAMESPACE: &str = "openshift-update-status-controller";
/// The controller's service account.
pub const SERVICE_ACCOUNT: &str = "update-status-controller";
/// The audience producer tokens must carry.
pub const AUDIENCE: &str = "update-status-controller.openshift.io";

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The OpenShift CRDs the built-in informers read, from `../shared/reference/openshift-crds`
/// (`OPENSHIFT_CRDS_DIR` overrides it).
fn openshift_crds_dir() -> PathBuf {
    std::env::var_os("OPENSHIFT_CRDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("../shared/reference/openshift-crds"))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every object of a YAML file, List items flattened.
pub fn objects_of(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        match doc["items"].as_array() {
            Some(items) if doc["kind"].as_str().unwrap_or("").ends_with("List") => {
                out.extend(items.iter().cloned())
            }
            _ if doc.is_object() => out.push(doc),
            _ => {}
        }
    }
    out
}

/// The OpenShift CRDs the built-in informers read, the monitoring stack's (stand-ins), then
/// ours, Established; and the namespace of the machine-config operator, which every OpenShift
/// cluster has.
pub fn install_crds(cp: &ControlPlane) {
    for file in yaml_files(&openshift_crds_dir())
        .into_iter()
        .chain([repo("tests/support/monitoring-crds.yaml")])
        .chain(yaml_files(&repo("crds")))
    {
        cp.apply(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    cp.wait_established(&[]).unwrap();
    cp.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: openshift-machine-config-operator}\n",
    )
    .unwrap();
}

/// What the cluster version operator applies from `manifests/`: the controller's namespace,
/// service account, RBAC, Deployment (which stays at zero pods: nothing schedules here).
pub fn install_manifests(cp: &ControlPlane) {
    for file in yaml_files(&repo("manifests")) {
        cp.apply(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

/// The objects of the sample cluster (`samples/cluster`): what the built-in informers read, not
/// its UpdateInformer or a published UpgradeStatus.
pub fn sample_objects() -> Vec<Value> {
    yaml_files(&repo("samples/cluster"))
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with("upgradestatus") && !name.starts_with("updateinformer")
        })
        .flat_map(|p| objects_of(p))
        .collect()
}

/// The platform Prometheus' service account and the RBAC OpenShift's monitoring stack gives it:
/// `get` on the non-resource URL `/metrics`, which every component's scrape endpoint checks.
pub fn platform_prometheus(cp: &ControlPlane) {
    cp.service_account("openshift-monitoring", "prometheus-k8s")
        .unwrap();
    cp.apply(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: prometheus-k8s}\n\
         rules: [{nonResourceURLs: [/metrics], verbs: [get]}]\n\
         ---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: prometheus-k8s}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus-k8s}\n\
         subjects: [{kind: ServiceAccount, name: prometheus-k8s, namespace: openshift-monitoring}]\n",
    )
    .unwrap();
}

/// Installs everything a cluster has before the controller starts (CRDs, `manifests/`), the
/// sample cluster with its UpdateInformer, and its producers' service accounts.
pub fn set_up(cp: &ControlPlane) {
    install_crds(cp);
    install_manifests(cp);
    let informers: Vec<Value> = yaml_files(&repo("samples/cluster"))
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("updateinformer")
        })
        .flat_map(|p| objects_of(p))
        .collect();
    cp.load(&[sample_objects(), informers].concat()).unwrap();
    cp.service_account("example-storage", "storage-operator")
        .unwrap();
    cp.service_account("example-storage", "someone-else")
        .unwrap();
    platform_prometheus(cp);
}

/// The controller binary, run as a pod would run it.
pub struct Controller {
    child: Option<Child>,
    pub url: String,
    pub log: PathBuf,
    pub name: String,
}

impl Controller {
    /// Starts `serve` in Kubernetes mode with a kubeconfig holding a TokenRequest token of the
    /// controller's own service account (the API server's audience, as a pod's token has).
    pub fn start(cp: &ControlPlane, name: &str, extra: &[&str]) -> Self {
        let token = cp.token(NAMESPACE, SERVICE_ACCOUNT, None).unwrap();
        let kubeconfig = cp.dir().join(format!("{name}.kubeconfig"));
        cp.write_token_kubeconfig(&kubeconfig, &token).unwrap();
        let port = free_port();
        let log = cp.dir().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_update-status-controller"))
            .args(["serve", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg(format!("--listen=127.0.0.1:{port}"))
            // Several controllers run at once: each probe port on a port of its own.
            .arg("--probe-listen=127.0.0.1:0")
            .arg(format!(
                "--tls-cert-file={}",
                repo("certs-dev/tls.crt").display()
            ))
            .arg(format!(
                "--tls-key-file={}",
                repo("certs-dev/tls.key").display()
            ))
            .arg(format!("--namespace={NAMESPACE}"))
            .arg(format!("--pod-name={name}"))
            // The alerts informer is off unless a test serves a Thanos of its own.
            .args((!extra.iter().any(|a| a.starts_with("--alerts-url"))).then_some("--alerts-url="))
            .args([
                "--publish-interval=200ms",
                "--lease-duration=2s",
                "--lease-renew-deadline=1500ms",
                "--lease-retry-period=300ms",
                "--rate-limit=1000",
                "--rate-burst=1000",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Controller {
            child: Some(child),
            url: format!("https://127.0.0.1:{port}"),
            log,
            name: name.to_owned(),
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Whether `/readyz` answers 200: it leads and has assessed the cluster.
    pub async fn ready(&self) -> bool {
        let ca_path = repo("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        matches!(
            update_status_controller::commands::report::get(&self.url, "/readyz", "-", &ca, &ca_path).await,
            Ok(answer) if answer.status == 200
        )
    }

    /// Waits until it is ready, at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.ready().await {
            assert!(
                Instant::now() < deadline,
                "{} not ready within {limit:?}; log:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GETs `path` with `token` (`/metrics`, `/readyz`, an informer's insights).
    pub async fn get(
        &self,
        path: &str,
        token: &str,
    ) -> update_status_controller::commands::report::Answer {
        let ca_path = repo("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        update_status_controller::commands::report::get(&self.url, path, token, &ca, &ca_path)
            .await
            .unwrap()
    }

    /// POSTs `body` as a report of `informer` with `token`.
    pub async fn report(
        &self,
        informer: &str,
        token: &str,
        body: Vec<u8>,
    ) -> update_status_controller::commands::report::Answer {
        let ca_path = repo("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        update_status_controller::commands::report::post(
            &self.url,
            &format!("/v1alpha1/informers/{informer}/reports"),
            token,
            &ca,
            &ca_path,
            body,
        )
        .await
        .unwrap()
    }

    /// SIGTERM, as the kubelet stops a pod, and waits for the exit (the Lease is released).
    pub fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{} did not stop within 30 s of SIGTERM", self.name);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `UpgradeStatus/cluster` as stored, or `None`.
pub fn upgrade_status(cp: &ControlPlane) -> Option<Value> {
    let out = cp
        .kubectl_run(&[
            "get",
            "upgradestatus",
            "cluster",
            "-o",
            "json",
            "--ignore-not-found",
        ])
        .ok()?;
    serde_json::from_str(&out).ok()
}

/// Waits until the stored status satisfies `ok`, at most `limit`, and returns it.
pub async fn published(cp: &ControlPlane, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(obj) = upgrade_status(cp)
            && ok(&obj["status"])
        {
            return obj["status"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "not published as expected within {limit:?}; stored: {}",
            upgrade_status(cp)
                .map(|o| o["status"].to_string())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every insight of the object, with the informer that gave it.
pub fn insights(status: &Value) -> Vec<(String, Value)> {
    let groups = status["controlPlane"]["informers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            status["workerPools"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["informers"].as_array().into_iter().flatten()),
        );
    groups
        .flat_map(|g| {
            let name = g["name"].as_str().unwrap_or("").to_owned();
            g["insights"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |i| (name.clone(), i))
        })
        .collect()
}

/// How many Node insights the singleton's status holds: none since node insights moved to
/// NodeProgressInsights, which a test checks.
pub fn node_insights(status: &Value) -> usize {
    insights(status)
        .iter()
        .filter(|(_, i)| i["insight"]["type"] == "Node")
        .count()
}

/// Every `NodeProgressInsight` as stored (one per node, named after it), by name.
pub fn node_objects(cp: &ControlPlane) -> std::collections::BTreeMap<String, Value> {
    let out = cp
        .kubectl_run(&["get", "nodeprogressinsights", "-o", "json"])
        .unwrap();
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_owned(),
                o.clone(),
            )
        })
        .collect()
}

/// The names of the cluster's Nodes.
pub fn node_names(cp: &ControlPlane) -> Vec<String> {
    let out = cp
        .kubectl_run(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"])
        .unwrap();
    let mut names: Vec<String> = out.split_whitespace().map(str::to_owned).collect();
    names.sort();
    names
}

/// Waits until the stored node objects satisfy `ok`, at most `limit`, and returns them.
pub async fn published_nodes(
    cp: &ControlPlane,
    limit: Duration,
    ok: impl Fn(&std::collections::BTreeMap<String, Value>) -> bool,
) -> std::collections::BTreeMap<String, Value> {
    let deadline = Instant::now() + limit;
    loop {
        let objects = node_objects(cp);
        if ok(&objects) {
            return objects;
        }
        assert!(
            Instant::now() < deadline,
            "node objects not published as expected within {limit:?}; {} stored",
            objects.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until there is a NodeProgressInsight for every Node and for nothing else (at most
/// `limit`), and returns them.
pub async fn every_node_published(
    cp: &ControlPlane,
    limit: Duration,
) -> std::collections::BTreeMap<String, Value> {
    let nodes = node_names(cp);
    published_nodes(cp, limit, |objects| {
        objects.keys().eq(nodes.iter()) && objects.values().all(|o| o["status"].is_object())
    })
    .await
}

/// The resourceVersion of every node object, by name.
pub fn versions(
    objects: &std::collections::BTreeMap<String, Value>,
) -> std::collections::BTreeMap<String, String> {
    objects
        .iter()
        .map(|(name, o)| {
            let version = o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned();
            (name.clone(), version)
        })
        .collect()
}

/// The node objects whose owner is not the stored `UpgradeStatus/cluster` (by uid): they would
/// not go away with it (a cluster's garbage collector deletes an object whose owner is gone).
pub fn not_owned_by_the_singleton(
    cp: &ControlPlane,
    objects: &std::collections::BTreeMap<String, Value>,
) -> Vec<String> {
    let uid = upgrade_status(cp).map(|o| o["metadata"]["uid"].clone());
    objects
        .iter()
        .filter(|(_, o)| {
            !o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| {
                    r["kind"] == "UpgradeStatus"
                        && r["name"] == "cluster"
                        && Some(&r["uid"]) == uid.as_ref()
                })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The condition `type_` of the object's status.
pub fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// A report whose one Health insight, in the worker pool, says `summary`.
pub fn report_saying(summary: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"insights": [{"uid": "real-api", "insight": {"type": "Health", "health": {
        "startedAt": "2026-06-01T11:50:00Z",
        "scope": {"type": "WorkerPool", "pool": "worker"},
        "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": summary},
        "remediation": {"reference": "https://example.com/runbook"}
    }}}]}))
    .unwrap()
}

/// The Health summaries the object holds from `informer`.
pub fn summaries_from(status: &Value, informer: &str) -> Vec<String> {
    insights(status)
        .into_iter()
        .filter(|(name, i)| name == informer && i["insight"]["type"] == "Health")
        .filter_map(|(_, i)| {
            i["insight"]["health"]["impact"]["summary"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// One Event as `oc describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenEvent {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// The reason.
    pub reason: String,
    /// The note (message).
    pub note: String,
    /// How many times it happened (1, or the series count).
    pub count: i64,
    /// The reporting controller.
    pub reporter: String,
}

/// The Events (events.k8s.io/v1) in `default` about the object of `kind` named `name`, oldest
/// first.
pub fn events_about(cp: &ControlPlane, kind: &str, name: &str) -> Vec<SeenEvent> {
    let out = cp
        .kubectl_run(&["get", "events.events.k8s.io", "-n", "default", "-o", "json"])
        .unwrap();
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut events: Vec<(String, SeenEvent)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["regarding"]["kind"] == kind && e["regarding"]["name"] == name)
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&e["eventTime"]),
                SeenEvent {
                    type_: text(&e["type"]),
                    reason: text(&e["reason"]),
                    note: text(&e["note"]),
                    count: e["series"]["count"].as_i64().unwrap_or(1),
                    reporter: text(&e["reportingController"]),
                },
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    events.into_iter().map(|(_, e)| e).collect()
}

/// Waits up to `limit` for an Event about `kind`/`name` with `reason` and a note containing
/// `note` (which may be empty), and returns it.
pub async fn event_with_reason(
    cp: &ControlPlane,
    (kind, name): (&str, &str),
    reason: &str,
    note: &str,
    limit: Duration,
) -> SeenEvent {
    let deadline = Instant::now() + limit;
    loop {
        let events = events_about(cp, kind, name);
        if let Some(e) = events
            .iter()
            .find(|e| e.reason == reason && e.note.contains(note))
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {reason} Event about {kind} {name} within {limit:?}; there are: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
