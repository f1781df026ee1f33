//! Kubernetes Events on a real kube-apiserver, written by the controller under its own service
//! account with only the RBAC `manifests/` ships: an UpdateInformer's producer reporting for the
//! first time, having a report refused, going stale, reporting again and being disabled, each
//! shown by `kubectl describe updateinformer`; and none repeated by a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/real_cluster.rs"]
mod real_cluster;

use std::time::Duration;

use real_cluster::{AUDIENCE, Controller, event_with_reason, events_about, report_saying};

const INFORMER: &str = "events-demo";
const KIND: &str = "UpdateInformer";
const OBJECT: (&str, &str) = (KIND, INFORMER);

/// A Health insight a third party may not send (Critical is beyond its reach), so the report is
/// accepted and the insight refused.
fn critical_report() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"insights": [{"uid": "too-loud", "insight": {"type": "Health", "health": {
        "startedAt": "2026-06-01T11:50:00Z",
        "scope": {"type": "WorkerPool", "pool": "worker"},
        "impact": {"level": "Critical", "type": "UpdateSpeed", "summary": "the sky is falling"},
        "remediation": {"reference": "https://example.com/runbook"}
    }}}]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informer_transitions_are_events_that_describe_shows_and_a_restart_does_not_repeat() {
    let Some(cp) = envtest::shared() else { return };
    real_cluster::set_up(cp);
    // The shortest interval the API allows: Stale after three missed (30 s).
    cp.apply(&format!(
        "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\n\
         metadata: {{name: {INFORMER}}}\n\
         spec: {{reporting: Enabled, reportIntervalSeconds: 10, \
         producers: [{{serviceAccount: {{namespace: example-storage, name: storage-operator}}}}], \
         allowedInsightTypes: [Health]}}\n"
    ))
    .unwrap();
    let controller = Controller::start(cp, "events", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    let token = cp
        .token("example-storage", "storage-operator", Some(AUDIENCE))
        .unwrap();
    let limit = Duration::from_secs(15);

    // Registered and silent: nothing to say yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events_about(cp, KIND, INFORMER), []);

    let answer = controller
        .report(INFORMER, &token, report_saying("volumes detach slowly"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let first = event_with_reason(cp, OBJECT, "FirstReport", "", limit).await;
    assert_eq!(first.type_, "Normal");
    assert_eq!(first.reporter, "update-status-controller");

    let answer = controller.report(INFORMER, &token, critical_report()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refused = event_with_reason(cp, OBJECT, "ReportRefused", "", limit).await;
    assert_eq!(refused.type_, "Warning");
    assert!(refused.note.contains("InsightRejected"), "{refused:?}");

    // No report for three intervals.
    let stale = event_with_reason(cp, OBJECT, "Stale", "", Duration::from_secs(45)).await;
    assert_eq!(stale.type_, "Warning");
    let answer = controller
        .report(INFORMER, &token, report_saying("back"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    event_with_reason(cp, OBJECT, "ReportingAgain", "", limit).await;

    // A restart starts from the status the API server holds: nothing is said twice.
    let before = events_about(cp, KIND, INFORMER);
    controller.stop();
    let controller = Controller::start(cp, "events-restarted", &[]);
    controller.wait_ready(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        events_about(cp, KIND, INFORMER),
        before,
        "a restart wrote Events again\n{}",
        controller.log_tail()
    );

    cp.kubectl_run(&[
        "patch",
        "updateinformer",
        INFORMER,
        "--type=merge",
        "-p",
        r#"{"spec":{"reporting":"Disabled"}}"#,
    ])
    .unwrap();
    event_with_reason(cp, OBJECT, "Disabled", "", limit).await;

    let described = cp
        .kubectl_run(&["describe", "updateinformer", INFORMER])
        .unwrap();
    for reason in [
        "FirstReport",
        "ReportRefused",
        "Stale",
        "ReportingAgain",
        "Disabled",
    ] {
        assert!(
            described.contains(reason),
            "kubectl describe does not show {reason}:\n{described}"
        );
    }
    let log = controller.log();
    assert!(!log.contains("cannot write an Event"), "{log}");
    controller.stop();
}
