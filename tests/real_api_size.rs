#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The size of `UpgradeStatus/cluster` on a real kube-apiserver v1.36 and etcd with their default
//! limits (etcd `--max-request-bytes` 1.5 MiB), with the issue's cluster: 5,000 nodes mid-update.
//!
//! The bug this guards against: the budget counted the status's JSON, but etcd stores the object
//! with the managedFields server-side apply adds (one entry per insight), and refused every write
//! (`etcdserver: request is too large`), forever. Here:
//!
//! - with the default budget, the object is published, and its size as stored (the API server's
//!   own encoding, managedFields included) is within the budget and within 10% of it;
//! - with a budget far above what etcd accepts, writes are refused as too large, and the
//!   controller shrinks and publishes anyway, says why in `Degraded`, and counts the refusals in
//!   its metrics.
//!
//! `node_change_to_published_latency` (ignored: a benchmark) prints the time from a Node change to
//! the published object at 100 and 5,000 nodes:
//!
//! ```sh
//! cargo test --test real_api_size -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use update_status_controller::auth::{DEFAULT_AUDIENCE, DEV_ISSUER, JwtAuthenticator, JwtSettings};
use update_status_controller::cli::{Cli, Command, ServeArgs};
use update_status_controller::store::DEFAULT_BUDGET_BYTES;

/// The issue's cluster.
const NODES: usize = 5_000;
/// etcd's default `--max-request-bytes`.
const ETCD_MAX_REQUEST_BYTES: usize = 1_572_864;
const UPGRADE_STATUS_PATH: &str = "/apis/update.openshift.io/v1alpha1/upgradestatuses/cluster";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
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

/// Every object of the sample cluster (`samples/cluster`), List items flattened.
fn sample_objects() -> Vec<Value> {
    let mut out = Vec::new();
    for file in yaml_files(&repo("samples/cluster")) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("upgradestatus") || name.starts_with("updateinformer") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            match doc["items"].as_array() {
                Some(items) => out.extend(items.iter().cloned()),
                None if doc.is_object() => out.push(doc),
                None => {}
            }
        }
    }
    out
}

/// The OpenShift CRDs the built-in informers read, then ours.
fn install_crds(cp: &ControlPlane) {
    let openshift = std::env::var_os("OPENSHIFT_CRDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo("../shared/reference/openshift-crds"));
    for file in yaml_files(&openshift)
        .into_iter()
        .chain(yaml_files(&repo("crds")))
    {
        cp.apply(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    cp.kubectl_run(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=30s",
    ])
    .unwrap();
    cp.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: openshift-machine-config-operator}\n",
    )
    .unwrap();
}

/// Installs the CRDs and the sample cluster (40 nodes, mid-update to 4.17.0).
fn set_up(cp: &ControlPlane) {
    install_crds(cp);
    cp.load(&sample_objects()).unwrap();
}

/// Worker node `i` of the generated part of the cluster, made from the sample's last worker: a
/// third updated, one in forty updating, the rest waiting, as in a large pool mid-update.
fn generated_node(template: &Value, i: usize) -> Value {
    let mut n = envtest::fresh(template.clone());
    n["metadata"]["name"] = json!(format!("worker-{i:05}.size.internal"));
    let (current, desired, state) = match i % 40 {
        1 => ("rendered-worker-old", "rendered-worker-new", "Working"),
        _ if i.is_multiple_of(3) => ("rendered-worker-new", "rendered-worker-new", "Done"),
        _ => ("rendered-worker-old", "rendered-worker-old", "Done"),
    };
    let a = &mut n["metadata"]["annotations"];
    a["machineconfiguration.openshift.io/currentConfig"] = json!(current);
    a["machineconfiguration.openshift.io/desiredConfig"] = json!(desired);
    a["machineconfiguration.openshift.io/state"] = json!(state);
    n
}

/// Creates generated worker nodes until the cluster has `total` (a Node keeps the status it is
/// created with). Concurrent creates: `kubectl apply` of a 5,000-item List takes a minute.
async fn grow_to(cp: &ControlPlane, total: usize) {
    let client = cp.client().await.unwrap();
    let nodes: Api<Node> = Api::all(client);
    let have = nodes.list_metadata(&Default::default()).await.unwrap();
    let existing: std::collections::HashSet<String> = have
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    if existing.len() >= total {
        return;
    }
    let template = sample_objects()
        .into_iter()
        .rfind(|o| {
            o["kind"] == "Node"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("worker-"))
        })
        .expect("a worker node in the sample");
    let wanted: Vec<Node> = (0..)
        .map(|i| generated_node(&template, i))
        .filter(|n| !existing.contains(n["metadata"]["name"].as_str().unwrap()))
        .take(total - existing.len())
        .map(|n| serde_json::from_value(n).unwrap())
        .collect();
    let started = Instant::now();
    let count = wanted.len();
    let queue = Arc::new(std::sync::Mutex::new(wanted));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (nodes, queue) = (nodes.clone(), queue.clone());
        workers.spawn(async move {
            loop {
                let Some(node) = queue.lock().unwrap().pop() else {
                    return;
                };
                match nodes.create(&PostParams::default(), &node).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => panic!("creating a node: {e}"),
                }
            }
        });
    }
    let deadline = Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while let Some(done) = workers.join_next().await {
            done.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{count} nodes not created within {deadline:?}"));
    eprintln!(
        "created {count} nodes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The shared control plane with the issue's 5,000-node cluster, set up once.
async fn cluster() -> Option<&'static ControlPlane> {
    static SET_UP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = envtest::shared()?;
    SET_UP
        .get_or_init(|| async {
            set_up(cp);
            grow_to(cp, NODES).await;
        })
        .await;
    Some(cp)
}

/// One test at a time: they share the singleton and the Lease.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn serve_args(extra: &[&str]) -> ServeArgs {
    let root = env!("CARGO_MANIFEST_DIR");
    let cert = format!("{root}/certs-dev/tls.crt");
    let key = format!("{root}/certs-dev/tls.key");
    let mut line = vec![
        "update-status-controller",
        "serve",
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--publish-interval",
        "200ms",
        "--lease-duration",
        "2s",
        "--lease-renew-deadline",
        "1500ms",
        "--lease-retry-period",
        "300ms",
        "--alerts-url",
        "",
    ];
    line.extend_from_slice(extra);
    match Cli::parse_from(line).command {
        Command::Serve(args) => *args,
        _ => unreachable!(),
    }
}

/// The controller in-process, in Kubernetes mode, against the real API server; producers (and
/// the metrics reader) authenticate with development tokens.
struct Controller {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    url: String,
}

impl Controller {
    async fn start(cp: &ControlPlane, extra: &[&str]) -> Self {
        let args = serve_args(extra);
        let client = cp.client().await.unwrap();
        let authenticator = JwtAuthenticator::from_public_key_file(
            &repo("certs-dev/token-signing.pub"),
            JwtSettings::new(DEV_ISSUER, DEFAULT_AUDIENCE),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                update_status_controller::serve::kube::run_with(
                    &args,
                    client,
                    Arc::new(authenticator),
                    listener,
                    shutdown,
                )
                .await
                .unwrap();
            }
        });
        Self {
            shutdown,
            task,
            url,
        }
    }

    /// `/metrics`, read as OpenShift's Prometheus would.
    async fn metrics(&self) -> String {
        let token = update_status_controller::auth::mint(
            include_bytes!("../certs-dev/token-signing.key"),
            DEV_ISSUER,
            DEFAULT_AUDIENCE,
            &update_status_controller::auth::ServiceAccount::from_username(
                "system:serviceaccount:openshift-monitoring:prometheus-k8s",
            )
            .unwrap(),
            None,
            jiff::Timestamp::now(),
            Duration::from_secs(600),
        )
        .unwrap();
        let ca_path = repo("certs-dev/ca.crt");
        let ca = std::fs::read(&ca_path).unwrap();
        let answer = update_status_controller::commands::report::get(
            &self.url, "/metrics", &token, &ca, &ca_path,
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the controller stops within 30 s")
            .unwrap();
    }
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The object as the API server encodes it — the encoding etcd stores, managedFields included
/// — or `None` while there is none.
async fn stored(client: &kube::Client) -> Option<String> {
    let request = http::Request::get(UPGRADE_STATUS_PATH)
        .body(Vec::new())
        .unwrap();
    match client.request_text(request).await {
        Ok(text) => Some(text.trim_end().to_owned()),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("reading the UpgradeStatus: {e}"),
    }
}

/// Waits (at most `limit`) until the stored object satisfies `pred`; returns its text.
async fn published(
    client: &kube::Client,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> String {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Some(text) = stored(client).await {
            let object: Value = serde_json::from_str(&text).unwrap();
            if pred(&object) {
                return text;
            }
            last = Some(object["status"]["conditions"].clone());
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not published within {limit:?}; last conditions: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Every insight of the object, with the informer list it is in.
fn insights(object: &Value) -> Vec<&Value> {
    let status = &object["status"];
    let scopes = std::iter::once(&status["controlPlane"])
        .chain(status["workerPools"].as_array().into_iter().flatten());
    scopes
        .flat_map(|s| s["informers"].as_array().into_iter().flatten())
        .flat_map(|i| i["insights"].as_array().into_iter().flatten())
        .collect()
}

fn node_insights(object: &Value) -> usize {
    insights(object)
        .iter()
        .filter(|x| x["insight"]["type"] == "Node")
        .count()
}

fn omitted(object: &Value) -> i64 {
    object["status"]["informers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["omitted"].as_array().into_iter().flatten())
        .map(|o| o["count"].as_i64().unwrap())
        .sum()
}

/// The field-set entries (`k:{"uid":"..."}`) of the controller's managedFields, by uid, as JSON.
fn field_set_entries(object: &Value) -> std::collections::HashMap<String, usize> {
    let mut out = std::collections::HashMap::new();
    fn walk(v: &Value, out: &mut std::collections::HashMap<String, usize>) {
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                if let Some(uid) = k
                    .strip_prefix("k:")
                    .and_then(|key| serde_json::from_str::<Value>(key).ok())
                    .and_then(|key| key["uid"].as_str().map(str::to_owned))
                {
                    let entry = serde_json::to_string(&json!({ k.clone(): child })).unwrap();
                    out.insert(uid, entry.len() - 2);
                }
                walk(child, out);
            }
        }
    }
    for m in object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == "update-status-controller")
    {
        walk(&m["fieldsV1"], &mut out);
    }
    out
}

/// Prints what the stored object is made of: status JSON, managedFields, and per Node insight.
fn describe(label: &str, text: &str) -> Value {
    let object: Value = serde_json::from_str(text).unwrap();
    let status_json = serde_json::to_vec(&object["status"]).unwrap().len();
    let managed = serde_json::to_vec(&object["metadata"]["managedFields"])
        .unwrap()
        .len();
    let entries = field_set_entries(&object);
    let (mut json_bytes, mut set_bytes, mut n) = (0, 0, 0);
    for x in insights(&object) {
        if x["insight"]["type"] == "Node"
            && let Some(entry) = entries.get(x["uid"].as_str().unwrap())
        {
            json_bytes += serde_json::to_vec(x).unwrap().len();
            set_bytes += entry;
            n += 1;
        }
    }
    let status: update_status_api::v1alpha1::UpgradeStatusStatus =
        serde_json::from_value(object["status"].clone()).unwrap();
    let estimate = update_status_controller::store::stored_bytes(&status);
    eprintln!(
        "{label}: stored {} bytes (status JSON {status_json}, managedFields {managed}); estimate \
         {estimate}; {} node insights kept, {} insights omitted; per node insight {} bytes of \
         JSON + {} of field set = {} stored (x{:.2})",
        text.len(),
        node_insights(&object),
        omitted(&object),
        json_bytes / n.max(1),
        set_bytes / n.max(1),
        (json_bytes + set_bytes) / n.max(1),
        (json_bytes + set_bytes) as f64 / json_bytes.max(1) as f64,
    );
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_budget_5000_nodes_publish_within_the_budget_as_stored() {
    let Some(cp) = cluster().await else { return };
    let _turn = TURN.lock().await;
    let client = cp.client().await.unwrap();
    let _ = cp.kubectl_run(&["delete", "upgradestatus", "cluster", "--ignore-not-found"]);
    let started = Instant::now();
    let controller = Controller::start(cp, &[]).await;
    let text = published(
        &client,
        Duration::from_secs(120),
        "the 5,000-node cluster",
        |o| node_insights(o) > 0,
    )
    .await;
    eprintln!(
        "first publication {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    let object = describe("default budget", &text);
    let size = text.len();
    assert!(
        size <= DEFAULT_BUDGET_BYTES,
        "stored {size} bytes, over the budget of {DEFAULT_BUDGET_BYTES}"
    );
    assert!(
        size * 10 >= DEFAULT_BUDGET_BYTES * 9,
        "stored {size} bytes, not within 10% of the budget of {DEFAULT_BUDGET_BYTES}: the estimate is not honest"
    );
    assert!(
        omitted(&object) > 0,
        "the cluster does not fit: omissions are counted"
    );
    // The estimate of what etcd stores is an upper bound, and a close one.
    let status: update_status_api::v1alpha1::UpgradeStatusStatus =
        serde_json::from_value(object["status"].clone()).unwrap();
    let estimate = update_status_controller::store::stored_bytes(&status);
    assert!(
        (size..=size + 2048).contains(&estimate),
        "estimated {estimate} bytes, stored {size}"
    );
    // Nothing was refused: no shrinking, no Degraded for size.
    let degraded = condition(&object, "Degraded");
    assert!(
        degraded.is_none_or(|c| c["reason"] != "StatusTooLarge"),
        "{degraded:?}"
    );
    let metrics = controller.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "update_status_controller_publications_too_large_total"
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "update_status_controller_budget_bytes"),
        Some(DEFAULT_BUDGET_BYTES as f64)
    );
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_above_what_etcd_accepts_shrinks_publishes_and_says_why() {
    let Some(cp) = cluster().await else { return };
    let _turn = TURN.lock().await;
    let client = cp.client().await.unwrap();
    let _ = cp.kubectl_run(&["delete", "upgradestatus", "cluster", "--ignore-not-found"]);
    // Twice what etcd accepts: the first writes are refused (the API server's etcd client
    // refuses messages over 2 MiB, etcd requests over 1.5 MiB).
    let budget = 3_000_000;
    let started = Instant::now();
    let controller = Controller::start(cp, &["--budget-bytes", &budget.to_string()]).await;
    let text = published(
        &client,
        Duration::from_secs(180),
        "a status within a lowered budget",
        |o| {
            condition(o, "Degraded").is_some_and(|c| c["reason"] == "StatusTooLarge")
                && node_insights(o) > 0
        },
    )
    .await;
    eprintln!(
        "published despite refusals {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    let object = describe("budget 3,000,000", &text);
    assert!(text.len() < ETCD_MAX_REQUEST_BYTES, "{} bytes", text.len());
    let degraded = condition(&object, "Degraded").unwrap();
    assert_eq!(degraded["status"], "True");
    let message = degraded["message"].as_str().unwrap();
    eprintln!("Degraded: {message}");
    assert!(
        message.contains("too large") && message.contains(&format!("configured {budget}")),
        "{message}"
    );
    assert!(omitted(&object) > 0, "what was left out is counted");
    let metrics = controller.metrics().await;
    let refused = metric(
        &metrics,
        "update_status_controller_publications_too_large_total",
    )
    .unwrap_or_else(|| panic!("{metrics}"));
    let effective = metric(&metrics, "update_status_controller_budget_bytes").unwrap();
    eprintln!("{refused} writes refused as too large; budget now {effective} bytes");
    assert!(refused >= 1.0, "{metrics}");
    assert!(
        effective < ETCD_MAX_REQUEST_BYTES as f64 && effective >= text.len() as f64,
        "effective budget {effective}, stored {}",
        text.len()
    );
    controller.stop().await;
}

/// The controller binary as its own process (as in a pod), against `cp` as cluster-admin.
/// `USC_BENCH_BIN` names another build of it (a release build, for numbers worth quoting).
struct Process {
    child: std::process::Child,
}

impl Process {
    fn start(cp: &ControlPlane, extra: &[&str]) -> Self {
        let binary = std::env::var_os("USC_BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_update-status-controller")));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--kubeconfig"])
            .arg(cp.kubeconfig())
            .args([
                "--tls-cert-file",
                "certs-dev/tls.crt",
                "--tls-key-file",
                "certs-dev/tls.key",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--alerts-url",
                "",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self { child }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn resource_version(api: &Api<update_status_api::v1alpha1::UpgradeStatus>) -> Option<String> {
    api.get_metadata_opt("cluster")
        .await
        .unwrap()
        .and_then(|m| m.metadata.resource_version)
}

/// Benchmark: from a Node change (one `kubectl`-equivalent patch) to the UpgradeStatus written
/// on the real API server, with the default publish interval (1 s) and budget, at 100 and 5,000
/// nodes; ten changes each, one every 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints numbers; run with --ignored --nocapture"]
async fn node_change_to_published_latency() {
    const CHANGES: usize = 10;
    for total in [100, NODES] {
        let Some(cp) = envtest::own() else { return };
        set_up(&cp);
        grow_to(&cp, total).await;
        let client = cp.client().await.unwrap();
        let statuses: Api<update_status_api::v1alpha1::UpgradeStatus> = Api::all(client.clone());
        let nodes: Api<Node> = Api::all(client.clone());
        let started = Instant::now();
        let process = Process::start(&cp, &[]);
        let text = published(
            &client,
            Duration::from_secs(180),
            "first publication",
            |o| node_insights(o) > 0,
        )
        .await;
        let first = started.elapsed();
        describe(&format!("{total} nodes"), &text);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut latencies = Vec::new();
        // Nodes waiting for the update (see `generated_node`), each now starting it.
        let waiting = (0..).filter(|i: &usize| i % 40 != 1 && !i.is_multiple_of(3));
        for i in waiting.take(CHANGES) {
            let before = resource_version(&statuses).await;
            let patch = json!({"metadata": {"annotations": {
                "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-new",
                "machineconfiguration.openshift.io/state": "Working"}}});
            let changed = Instant::now();
            nodes
                .patch(
                    &format!("worker-{i:05}.size.internal"),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .unwrap();
            let deadline = changed + Duration::from_secs(60);
            while resource_version(&statuses).await == before {
                assert!(
                    Instant::now() < deadline,
                    "change not published within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies.push(changed.elapsed());
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        drop(process);
        // The API server's share: the same server-side apply, of the object as published (its
        // `observedAt` moved so it is a change), without the controller.
        let text = stored(&client).await.unwrap();
        let object: Value = serde_json::from_str(&text).unwrap();
        let mut applies = Vec::new();
        for k in 0..3 {
            let mut status = object["status"].clone();
            status["observedAt"] = json!(format!("2030-01-01T00:00:0{k}Z"));
            let body = json!({
                "apiVersion": "update.openshift.io/v1alpha1",
                "kind": "UpgradeStatus",
                "metadata": {"name": "cluster"},
                "status": status,
            });
            let params = PatchParams::apply("update-status-controller").force();
            let started = Instant::now();
            statuses
                .patch_status("cluster", &params, &Patch::Apply(&body))
                .await
                .unwrap();
            applies.push(started.elapsed());
        }
        applies.sort();
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "{total} nodes: first publication {:.1} s after start; node change -> published over \
             {CHANGES} changes: min {:.0} ms, median {:.0} ms, max {:.0} ms",
            first.as_secs_f64(),
            ms(latencies[0]),
            ms(latencies[CHANGES / 2]),
            ms(latencies[CHANGES - 1]),
        );
        eprintln!(
            "{total} nodes: the server-side apply of that object alone takes {:.0} ms (median of 3)",
            ms(applies[1])
        );
    }
}
