//! The size of `UpgradeStatus/cluster` on a real kube-apiserver v1.36 and etcd with their default
//! limits (etcd `--max-request-bytes` 1.5 MiB), with the cluster: 5,000 nodes mid-update.
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
//! The controller runs as in a cluster: its own process, its service account's token, the RBAC of
//! `manifests/`; `/metrics` is read with the platform Prometheus' token. `cargo bench --bench
//! real_api_latency` prints the time from a Node change to the published object at 100 and 5,000
//! nodes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use envtest::ControlPlane;
use update_status_controller::store::DEFAULT_BUDGET_BYTES;

#[path = "support/real_cluster.rs"]
mod real_cluster;
#[path = "support/size_cluster.rs"]
mod size_cluster;

use real_cluster::Controller;
use size_cluster::{condition, describe, grow_to, node_insights, omitted, published, set_up};

/// The cluster.
const NODES: usize = 5_000;
/// etcd's default `--max-request-bytes`.
const ETCD_MAX_REQUEST_BYTES: usize = 1_572_864;

/// The shared control plane with the 5,000-node cluster, set up once.
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

/// `/metrics`, read as OpenShift's Prometheus would: its service account's token for our
/// audience.
async fn metrics(cp: &ControlPlane, controller: &Controller) -> String {
    let token = cp
        .token(
            "openshift-monitoring",
            "prometheus-k8s",
            Some(real_cluster::AUDIENCE),
        )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_default_budget_5000_nodes_publish_within_the_budget_as_stored() {
    let Some(cp) = cluster().await else { return };
    let _turn = TURN.lock().await;
    let client = cp.client().await.unwrap();
    let _ = cp.kubectl_run(&["delete", "upgradestatus", "cluster", "--ignore-not-found"]);
    let started = Instant::now();
    let controller = Controller::start(cp, "size", &[]);
    controller.wait_ready(Duration::from_secs(60)).await;
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
    let metrics = metrics(cp, &controller).await;
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
    tokio::task::block_in_place(|| controller.stop());
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
    let controller = Controller::start(cp, "size-refused", &[&format!("--budget-bytes={budget}")]);
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
    let metrics = metrics(cp, &controller).await;
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
    tokio::task::block_in_place(|| controller.stop());
}
