//! The cluster on a real kube-apiserver v1.36 and etcd with their default limits: 5,000
//! nodes mid-update, the controller as in a cluster (its own process, its service account's
//! token, the RBAC of `manifests/`; `/metrics` read with the platform Prometheus' token).
//!
//! The bug this guards against: a 5,000-node `UpgradeStatus/cluster` was refused by etcd, 4,425
//! nodes that `oc` shows were left out, and each node's change rewrote about a megabyte. Node
//! insights are now one `NodeProgressInsight` per node. Here, live:
//!
//! - every node is published (5,000 NodeProgressInsights, each owned by the singleton, nothing
//!   omitted) and the singleton as stored (managedFields included) is at most 256 KiB;
//! - `status --kubeconfig` prints what the real `oc adm upgrade status` prints from the same
//!   server, with and without `--details=all`;
//! - an idle cluster causes no write at all (the API server's own request counters);
//! - one Node's change is one write of one node object of at most 2 KiB, and nothing else.
//!
//! Latency and the 10,000-node case are numbers, not assertions: `cargo bench --bench
//! real_api_scale` (and `real_api_latency`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use envtest::ControlPlane;
use serde_json::{Value, json};

#[path = "support/oc_live.rs"]
mod oc_live;
#[path = "support/real_cluster.rs"]
mod real_cluster;
#[path = "support/size_cluster.rs"]
mod size_cluster;

use real_cluster::{Controller, versions};
use size_cluster::{
    api_writes, condition, every_node_published, get_text, grow_to, node_apply_body, node_insights,
    node_objects, omitted, published, rewritten, set_up, stored,
};

/// The cluster.
const NODES: usize = 5_000;
/// The most `UpgradeStatus/cluster` may take as stored, whatever the cluster's size.
const SINGLETON_MAX_BYTES: usize = 256 * 1024;
/// The most one node's write may take: the request body (the server-side apply).
const NODE_WRITE_MAX_BYTES: usize = 2 * 1024;
/// How long an idle cluster is watched for writes: 75 publish intervals of the tests' 200 ms,
/// each of which evaluates everything and would write whatever differs (the bench watches a
/// minute at the default 1 s).
const IDLE: Duration = Duration::from_secs(15);

/// The shared control plane with the 5,000-node cluster and the machine-config
/// operator's Deployment `oc` reads, set up once.
async fn cluster() -> Option<&'static ControlPlane> {
    static SET_UP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = envtest::shared()?;
    SET_UP
        .get_or_init(|| async {
            set_up(cp);
            let operators: Vec<Value> = real_cluster::sample_objects()
                .into_iter()
                .filter(|o| o["kind"] == "ClusterOperator")
                .collect();
            cp.apply(&oc_live::mco_deployment(&operators)).unwrap();
            grow_to(cp, NODES).await;
        })
        .await;
    Some(cp)
}

/// `/metrics`, read as OpenShift's Prometheus does: with its service account's own token.
async fn metrics(cp: &ControlPlane, controller: &Controller) -> String {
    let token = cp
        .token("openshift-monitoring", "prometheus-k8s", None)
        .unwrap();
    let answer = controller.get("/metrics", &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The resourceVersion of the stored singleton.
async fn singleton_version(client: &kube::Client) -> String {
    let text = stored(client).await.unwrap();
    let object: Value = serde_json::from_str(&text).unwrap();
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_5000_nodes_every_node_is_published_the_singleton_stays_small_and_status_is_oc() {
    let Some(cp) = cluster().await else { return };
    let client = cp.client().await.unwrap();
    let started = Instant::now();
    let controller = Controller::start(cp, "size", &[]);
    controller.wait_ready(Duration::from_secs(60)).await;
    let text = published(&client, Duration::from_secs(120), "the singleton", |o| {
        condition(o, "Available").is_some_and(|c| c["status"] == "True")
    })
    .await;
    let objects = every_node_published(&client, Duration::from_secs(240)).await;
    eprintln!(
        "{} node objects published {:.1} s after start",
        objects.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(objects.len(), NODES, "one NodeProgressInsight per Node");

    // The singleton as etcd stores it (managedFields included): small, whatever the cluster.
    let text = stored(&client).await.unwrap_or(text);
    let singleton: Value = serde_json::from_str(&text).unwrap();
    eprintln!("UpgradeStatus/cluster as stored: {} bytes", text.len());
    assert!(
        text.len() <= SINGLETON_MAX_BYTES,
        "stored {} bytes, over {SINGLETON_MAX_BYTES}",
        text.len()
    );
    assert_eq!(
        node_insights(&singleton),
        0,
        "no node insight in the singleton"
    );
    assert_eq!(omitted(&singleton), 0, "nothing omitted");
    // The estimate of what etcd stores is an upper bound, and a close one.
    let status: update_status_api::v1alpha1::UpgradeStatusStatus =
        serde_json::from_value(singleton["status"].clone()).unwrap();
    let estimate = update_status_controller::store::stored_bytes(&status);
    assert!(
        (text.len()..=text.len() + 2048).contains(&estimate),
        "estimated {estimate} bytes, stored {}",
        text.len()
    );
    let uid = &singleton["metadata"]["uid"];
    let orphans = objects
        .values()
        .filter(|o| o["metadata"]["ownerReferences"][0]["uid"] != *uid)
        .count();
    assert_eq!(
        orphans, 0,
        "node objects not owned by UpgradeStatus/cluster"
    );
    // Each node object: its write (the apply body the controller sends) small; as stored,
    // managedFields (two entries: the create's and the status apply's) add about a kilobyte.
    let largest_body = objects
        .iter()
        .map(|(name, o)| node_apply_body(name, &o["status"]).len())
        .max()
        .unwrap();
    let largest_stored = objects
        .values()
        .map(|o| serde_json::to_vec(o).unwrap().len())
        .max()
        .unwrap();
    eprintln!(
        "node objects: largest apply body {largest_body} bytes, largest as stored {largest_stored} bytes"
    );
    assert!(largest_body <= NODE_WRITE_MAX_BYTES, "{largest_body} bytes");
    // What oc prints from the same server at the same moment.
    let mut set_aside = Vec::new();
    for details in ["none", "all"] {
        let outcome =
            tokio::task::block_in_place(|| oc_live::equal_to_oc(cp, details, &mut set_aside));
        if let Err(e) = outcome {
            panic!("--details={details}: status differs from oc:\n{e}");
        }
    }
    set_aside.sort();
    set_aside.dedup();
    eprintln!("oc lines set aside: {set_aside:?}");

    // Idle: no write at all, not even one that changes nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let nodes_before = versions(&node_objects(&client).await);
    let singleton_before = singleton_version(&client).await;
    let writes_before = (
        api_writes(&client, "nodeprogressinsights").await,
        api_writes(&client, "upgradestatuses").await,
    );
    tokio::time::sleep(IDLE).await;
    let writes_after = (
        api_writes(&client, "nodeprogressinsights").await,
        api_writes(&client, "upgradestatuses").await,
    );
    assert_eq!(
        writes_after, writes_before,
        "write requests (node objects, singleton) while idle for {IDLE:?}"
    );
    assert_eq!(
        rewritten(&nodes_before, &versions(&node_objects(&client).await)),
        Vec::<String>::new()
    );
    assert_eq!(singleton_version(&client).await, singleton_before);

    // One Node starts its update: one write, of that node's object, small.
    let name = "worker-00002.size.internal"; // waiting (see `generated_node`)
    let patch = json!({"metadata": {"annotations": {
        "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-new",
        "machineconfiguration.openshift.io/state": "Working"}}});
    let was = node_objects(&client).await[name].clone();
    cp.kubectl_run(&[
        "patch",
        "node",
        name,
        "--type=merge",
        "-p",
        &patch.to_string(),
    ])
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = format!("{}/{name}", size_cluster::NODE_OBJECTS_PATH);
    let now = loop {
        let text = get_text(&client, &path).await.unwrap();
        let object: Value = serde_json::from_str(&text).unwrap();
        if object["metadata"]["resourceVersion"] != was["metadata"]["resourceVersion"] {
            break (text, object);
        }
        assert!(
            Instant::now() < deadline,
            "the change not published in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(now.1["status"], was["status"]);
    // Let a coalesced second round, if any, happen.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = node_apply_body(name, &now.1["status"]);
    eprintln!(
        "one node's change: the object as stored {} bytes, the apply body {} bytes",
        now.0.len(),
        body.len()
    );
    assert!(
        body.len() <= NODE_WRITE_MAX_BYTES,
        "body {} bytes",
        body.len()
    );
    assert_eq!(
        api_writes(&client, "nodeprogressinsights").await - writes_after.0,
        1,
        "one write request for one node's change"
    );
    assert_eq!(
        rewritten(&nodes_before, &versions(&node_objects(&client).await)),
        [name],
        "only the changed node's object is written"
    );

    let metrics = metrics(cp, &controller).await;
    assert_eq!(
        metric(
            &metrics,
            "update_status_controller_publications_too_large_total"
        ),
        Some(0.0),
        "{metrics}"
    );
    tokio::task::block_in_place(|| controller.stop());
    // Back as it was, for the next run on this control plane.
    let undo = json!({"metadata": {"annotations": {
        "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-old",
        "machineconfiguration.openshift.io/state": "Done"}}});
    cp.kubectl_run(&[
        "patch",
        "node",
        name,
        "--type=merge",
        "-p",
        &undo.to_string(),
    ])
    .unwrap();
}
