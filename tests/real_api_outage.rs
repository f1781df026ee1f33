//! The API server goes away while producers report, and comes back: a token the controller has
//! not reviewed gets 503 with Retry-After (never an accept), a report from a producer already
//! reviewed is kept in memory, and everything is published once the server is back. This test
//! stops its own control plane's kube-apiserver, so it has one of its own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/real_cluster.rs"]
mod real_cluster;

use std::time::{Duration, Instant};

use real_cluster::{
    AUDIENCE, Controller, every_node_published, node_objects, published, report_saying,
    summaries_from, versions,
};

const STORAGE: &str = "example-storage-operator";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_outage_costs_503s_for_new_tokens_and_loses_nothing() {
    let Some(cp) = envtest::own() else { return };
    real_cluster::set_up(&cp);
    let controller = Controller::start(&cp, "outage", &["--token-cache-ttl=5m"]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let nodes = every_node_published(&cp, Duration::from_secs(10)).await;
    let reviewed = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let unseen = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let answer = controller
        .report(STORAGE, &reviewed, report_saying("before the outage"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    published(&cp, Duration::from_secs(10), |s| {
        summaries_from(s, STORAGE) == ["before the outage"]
    })
    .await;

    cp.stop_apiserver().unwrap();
    let answer = controller
        .report(STORAGE, &unseen, report_saying("from an unreviewed token"))
        .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    let retry = answer.retry_after.expect("a 503 carries Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let answer = controller
        .report(STORAGE, &reviewed, report_saying("during the outage"))
        .await;
    assert_eq!(answer.status, 200, "a reviewed producer: {}", answer.body);
    // Several publish intervals pass with writes failing.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let back = Instant::now();
    cp.start_apiserver().unwrap();
    let restarted = back.elapsed();
    let status = published(&cp, Duration::from_secs(30), |s| {
        summaries_from(s, STORAGE) == ["during the outage"]
    })
    .await;
    println!(
        "API server restart: {restarted:?}; published {:?} after it was back",
        back.elapsed() - restarted
    );
    assert!(status["conditions"].is_array());
    assert_eq!(
        versions(&node_objects(&cp)),
        versions(&nodes),
        "nothing else was lost, and the node objects, which did not change, were not rewritten"
    );
    controller.stop();
}
