//! Attack (issue 16, finding 1): listed third parties sending their maximum — thousands of Health
//! insights with 4,096-character descriptions, far over the object's budget — cannot remove a
//! single status insight from the object or change what `status` shows above its health
//! section, cannot push one another out, and a third party named before `machine-config`
//! cannot take its place when a scope has more informers than it can list.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/oc_examples.rs"]
mod oc_examples;

use std::collections::BTreeSet;

use update_status_api::v1alpha1::{
    InformerName, InsightPayload, MAX_INFORMERS, UpgradeStatusStatus,
};
use update_status_api::wire::ReportedInsight;
use update_status_controller::builtin;
use update_status_controller::cluster::mock_now;
use update_status_controller::commands::snapshot::load;
use update_status_controller::render::{Details, render};
use update_status_controller::store::{DEFAULT_BUDGET_BYTES, Publication, Store};

const CASE: &str = "4.15.0-ec2-unavailable-mco-20m-cv.yaml";

/// A Health insight as large as the API allows, scoped to the control plane.
fn big_health(uid: &str) -> ReportedInsight {
    serde_json::from_value(serde_json::json!({
        "uid": uid,
        "insight": {"type": "Health", "health": {
            "startedAt": "2024-01-01T00:00:00Z",
            "scope": {"type": "ControlPlane", "resources": [
                {"group": "config.openshift.io", "resource": "clusteroperators", "name": "etcd"}]},
            "impact": {"level": "Warning", "type": "UpdateSpeed",
                "summary": "s".repeat(256).chars().take(200).collect::<String>(),
                "description": "d".repeat(4096)},
            "remediation": {"reference": "https://example.com/runbook"},
        }},
    }))
    .unwrap()
}

/// The store the built-in informers fill for the shared case, and its evaluation time.
fn builtin_store() -> Option<(Store, update_status_api::time::Timestamp)> {
    let dir = oc_examples::examples_dir()?;
    let state = load(&dir.join(CASE)).unwrap();
    let now = mock_now(&state);
    let mut store = Store::new();
    for output in builtin::assess(&state, now, now) {
        store.replace(&output.informer, true, output.insights, now);
    }
    Some((store, now))
}

/// Every insight in the singleton other than a Health insight, as (informer, uid).
fn status_insights(status: &UpgradeStatusStatus) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let scopes = status
        .control_plane
        .iter()
        .flat_map(|cp| cp.informers.iter())
        .chain(status.worker_pools.iter().flat_map(|p| p.informers.iter()));
    for informer in scopes {
        for x in informer.insights.iter() {
            if !matches!(x.insight, InsightPayload::Health(_)) {
                out.insert((informer.name.to_string(), x.uid.to_string()));
            }
        }
    }
    out
}

/// Health insights held in the singleton from `informer`.
fn health_of(status: &UpgradeStatusStatus, informer: &str) -> usize {
    let scopes = status
        .control_plane
        .iter()
        .flat_map(|cp| cp.informers.iter())
        .chain(status.worker_pools.iter().flat_map(|p| p.informers.iter()));
    scopes
        .filter(|i| i.name.as_str() == informer)
        .flat_map(|i| i.insights.iter())
        .filter(|x| matches!(x.insight, InsightPayload::Health(_)))
        .count()
}

fn omitted_of(status: &UpgradeStatusStatus, informer: &str) -> i64 {
    status
        .informers
        .iter()
        .filter(|s| s.name.as_str() == informer)
        .flat_map(|s| s.omitted.iter())
        .map(|o| i64::from(o.count.get()))
        .sum()
}

/// `status` as a user sees it, above the health section (which the third parties may fill).
fn above_health(p: &Publication, now: update_status_api::time::Timestamp) -> String {
    let text = render(&p.status, p.nodes.values(), now, &Details::all()).unwrap();
    text.split("= Update Health =").next().unwrap().to_owned()
}

#[test]
fn third_parties_at_their_maximum_remove_no_status_insight_nor_each_other() {
    let Some((mut store, now)) = builtin_store() else {
        return;
    };
    let before = store.publication(now, DEFAULT_BUDGET_BYTES);
    let wanted = status_insights(&before.status);
    assert!(
        wanted.len() > 20,
        "the case has status insights: {wanted:?}"
    );

    // Two third parties, one named before every owner and one after, each sending far more
    // than the whole budget (2 x 1,000 x ~4.5 KB against 256 KiB).
    for informer in ["aaa-storage", "zzz-network"] {
        let insights = (0..1000)
            .map(|i| big_health(&format!("{informer}-{i}")))
            .collect();
        store.replace(&InformerName::new(informer).unwrap(), false, insights, now);
    }
    let after = store.publication(now, DEFAULT_BUDGET_BYTES);

    let kept = status_insights(&after.status);
    let lost: Vec<_> = wanted.difference(&kept).collect();
    assert!(lost.is_empty(), "status insights pushed out: {lost:?}");
    assert_eq!(after.nodes, before.nodes, "node objects changed");
    assert_eq!(
        above_health(&after, now),
        above_health(&before, now),
        "what status shows above its health section changed"
    );
    assert!(
        health_of(&after.status, "alerts") >= health_of(&before.status, "alerts"),
        "the built-in alerts informer's health insights were pushed out"
    );
    // Each third party keeps a fair part and has the rest counted as omitted.
    let (a, z) = (
        health_of(&after.status, "aaa-storage"),
        health_of(&after.status, "zzz-network"),
    );
    assert!(
        a > 0 && z > 0,
        "a third party pushed out the other: {a} vs {z}"
    );
    assert!(a.abs_diff(z) <= 1, "unfair shares: {a} vs {z}");
    assert_eq!(omitted_of(&after.status, "aaa-storage"), 1000 - a as i64);
    assert_eq!(omitted_of(&after.status, "zzz-network"), 1000 - z as i64);
}

#[test]
fn a_small_third_party_keeps_everything_beside_one_that_floods() {
    let Some((mut store, now)) = builtin_store() else {
        return;
    };
    let small: Vec<_> = (0..3).map(|i| big_health(&format!("small-{i}"))).collect();
    store.replace(&InformerName::new("small").unwrap(), false, small, now);
    let flood: Vec<_> = (0..1000)
        .map(|i| big_health(&format!("flood-{i}")))
        .collect();
    store.replace(&InformerName::new("flood").unwrap(), false, flood, now);
    let p = store.publication(now, DEFAULT_BUDGET_BYTES);
    assert_eq!(health_of(&p.status, "small"), 3);
    assert_eq!(omitted_of(&p.status, "small"), 0);
    assert!(omitted_of(&p.status, "flood") > 900);
}

#[test]
fn more_informers_than_a_scope_lists_never_push_out_an_owner() {
    let Some((mut store, now)) = builtin_store() else {
        return;
    };
    let before = status_insights(&store.publication(now, DEFAULT_BUDGET_BYTES).status);
    // All named before `cluster-version` and `machine-config`, one insight each.
    for i in 0..MAX_INFORMERS + 4 {
        let informer = format!("a{i:02}");
        store.replace(
            &InformerName::new(&informer).unwrap(),
            false,
            vec![big_health(&format!("{informer}-0"))],
            now,
        );
    }
    let after = store.publication(now, DEFAULT_BUDGET_BYTES).status;
    let kept = status_insights(&after);
    let lost: Vec<_> = before.difference(&kept).collect();
    assert!(lost.is_empty(), "status insights pushed out: {lost:?}");
}
