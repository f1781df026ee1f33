//! Property tests of the store (SECURITY.md: tampering, and the size of the published object).
//! Random sequences of full-state reports from several informers, checked against a model that is
//! just "each informer holds what it last reported":
//! - one informer's report never changes, reveals or removes another informer's insights, in the
//!   store or in the groups the published status routes them to;
//! - a repeated report is a no-op: nothing changes, `acquiredAt` is kept; only the informer's
//!   `lastReportTime` moves (staleness is measured from it);
//! - the published status never exceeds the byte budget (as JSON, which is how it is applied),
//!   unless nothing at all could be kept, and its omitted counts add up to what it left out.
//!
//! Uids are drawn from a small set shared by every informer, so reports of different informers
//! use the same uids all the time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    InformerInsights, InformerName, Insight, InsightType, UpgradeStatusStatus,
};
use update_status_api::wire::ReportedInsight;
use update_status_controller::store::{DEFAULT_BUDGET_BYTES, Store};

/// Informer names: the two owners of status insights, a built-in one, and third parties.
const INFORMERS: [&str; 5] = [
    "cluster-version",
    "machine-config",
    "alerts",
    "example-storage-operator",
    "network-checker",
];

/// Informers that may only send Health insights (what their UpdateInformer policy enforces).
fn third_party(name: &str) -> bool {
    matches!(name, "example-storage-operator" | "network-checker")
}

const POOLS: [&str; 4] = ["master", "worker", "infra", "edge"];

fn name(s: &str) -> InformerName {
    InformerName::new(s).unwrap()
}

/// Seconds after a fixed instant.
fn at(seconds: u32) -> Timestamp {
    Timestamp::from_nanos(1_780_000_000_000_000_000 + i128::from(seconds) * 1_000_000_000).unwrap()
}

/// Printable text of `len` characters, so sizes vary a lot between insights.
fn text(len: usize, seed: u8) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789";
    (0..len)
        .map(|i| char::from(alphabet[(i * 7 + usize::from(seed)) % alphabet.len()]))
        .collect()
}

fn condition(type_: &str, status: &str, reason: &str, message: String) -> Value {
    json!({"type": type_, "status": status, "lastTransitionTime": "2026-06-01T12:00:00Z",
           "reason": reason, "message": message})
}

/// The content of one insight: any of the five types, with text of random length.
fn payload(health_only: bool) -> BoxedStrategy<Value> {
    let health = (
        prop::sample::select(&POOLS[..]),
        any::<bool>(),
        0usize..400,
        any::<u8>(),
    )
        .prop_map(|(pool, control_plane, len, seed)| {
            let scope = if control_plane {
                json!({"type": "ControlPlane"})
            } else {
                json!({"type": "WorkerPool", "pool": pool})
            };
            json!({"type": "Health", "health": {
                "scope": scope,
                "impact": {"level": "Warning", "type": "UpdateSpeed",
                           "summary": format!("s{}", text(len.min(250), seed))},
                "remediation": {"reference": "https://example.com/runbook"},
            }})
        });
    if health_only {
        return health.boxed();
    }
    let node = (
        prop::sample::select(&POOLS[..]),
        prop::sample::select(&["Completed", "Pending", "Paused", "Draining", "Updating"][..]),
        any::<bool>(),
        0usize..600,
        any::<u8>(),
    )
        .prop_map(|(pool, reason, available, len, seed)| {
            let scope = if pool == "master" { "ControlPlane" } else { "WorkerPool" };
            let name = format!("node-{seed}");
            json!({"type": "Node", "node": {
                "name": name,
                "resource": {"resource": "nodes", "name": name},
                "poolResource": {"group": "machineconfiguration.openshift.io",
                                 "resource": "machineconfigpools", "name": pool},
                "scopeType": scope,
                "version": "4.16.0",
                "conditions": [
                    condition("Updating", "False", reason, text(len, seed)),
                    condition("Available", if available { "True" } else { "False" }, "AsExpected", String::new()),
                ],
            }})
        });
    let pool = (
        prop::sample::select(&POOLS[..]),
        prop::sample::select(
            &[
                "Pending",
                "Completed",
                "Degraded",
                "Excluded",
                "Progressing",
            ][..],
        ),
        any::<bool>(),
        0usize..3000,
        any::<u8>(),
    )
        .prop_map(|(pool, assessment, updating, len, seed)| {
            let scope = if pool == "master" {
                "ControlPlane"
            } else {
                "WorkerPool"
            };
            let conditions = if updating {
                vec![condition(
                    "Updating",
                    "True",
                    "Progressing",
                    text(len, seed),
                )]
            } else {
                vec![]
            };
            json!({"type": "MachineConfigPool", "machineConfigPool": {
                "name": pool,
                "resource": {"group": "machineconfiguration.openshift.io",
                             "resource": "machineconfigpools", "name": pool},
                "scopeType": scope,
                "assessment": assessment,
                "summaries": [{"type": "Total", "count": 3}],
                "conditions": conditions,
            }})
        });
    let operator = (any::<bool>(), 0usize..400, any::<u8>()).prop_map(|(done, len, seed)| {
        let name = format!("operator-{seed}");
        json!({"type": "ClusterOperator", "clusterOperator": {
            "name": name,
            "resource": {"group": "config.openshift.io", "resource": "clusteroperators", "name": name},
            "conditions": [
                condition("Updating", "False", if done { "Updated" } else { "Pending" }, text(len, seed)),
                condition("Healthy", "True", "AsExpected", String::new()),
            ],
        }})
    });
    let version = (0usize..6000, any::<u8>()).prop_map(|(len, seed)| {
        json!({"type": "ClusterVersion", "clusterVersion": {
            "name": "version",
            "resource": {"group": "config.openshift.io", "resource": "clusterversions", "name": "version"},
            "conditions": [condition("Updating", "True", "ClusterVersionProgressing", text(len, seed))],
            "assessment": "Progressing",
            "versions": {"target": {"version": "4.17.0"}, "previous": {"version": "4.16.3", "state": "Completed"}},
            "completion": 40,
            "operators": {"updated": 2, "total": 5},
            "expectedDurationSeconds": 3600,
            "startedAt": "2026-06-01T11:00:00Z",
        }})
    });
    prop_oneof![3 => health, 4 => node, 1 => pool, 2 => operator, 1 => version].boxed()
}

/// A report: distinct uids (validation refuses repeated ones), drawn from a set every informer
/// shares, in random order.
fn report(health_only: bool) -> impl Strategy<Value = Vec<ReportedInsight>> {
    prop::collection::btree_map(0u8..24, payload(health_only), 0..12)
        .prop_flat_map(|by_uid| Just(by_uid.into_iter().collect::<Vec<_>>()).prop_shuffle())
        .prop_map(|entries| {
            entries
                .into_iter()
                .map(|(uid, insight)| {
                    serde_json::from_value(json!({"uid": format!("uid-{uid}"), "insight": insight}))
                        .unwrap()
                })
                .collect()
        })
}

/// One report of one informer; status insights only from the informers allowed to send them.
fn step() -> impl Strategy<Value = (&'static str, Vec<ReportedInsight>)> {
    prop::sample::select(&INFORMERS[..])
        .prop_flat_map(|informer| (Just(informer), report(third_party(informer))))
}

fn steps(max: usize) -> impl Strategy<Value = Vec<(&'static str, Vec<ReportedInsight>)>> {
    prop::collection::vec(step(), 1..max)
}

/// Applies a report as the server does (the built-in informers as built-ins).
fn apply(store: &mut Store, informer: &str, insights: Vec<ReportedInsight>, now: Timestamp) {
    let builtin = !third_party(informer);
    store.replace(&name(informer), builtin, insights, now);
}

/// Every group of `informer` in the status, keyed by where it was routed.
fn routed(status: &UpgradeStatusStatus, informer: &str) -> Vec<(String, InformerInsights)> {
    let cp = status
        .control_plane
        .iter()
        .flat_map(|cp| cp.informers.iter())
        .map(|g| ("controlPlane".to_owned(), g));
    let pools = status
        .worker_pools
        .iter()
        .flat_map(|p| p.informers.iter().map(move |g| (p.name.to_string(), g)));
    cp.chain(pools)
        .filter(|(_, g)| g.name.as_str() == informer)
        .map(|(at, g)| (at, g.clone()))
        .collect()
}

/// Uid and content of what the store holds, without `acquiredAt`.
fn content(insights: &[Insight]) -> Vec<(String, Value)> {
    insights
        .iter()
        .map(|i| (i.uid.to_string(), serde_json::to_value(&i.insight).unwrap()))
        .collect()
}

fn reported(insights: &[ReportedInsight]) -> Vec<(String, Value)> {
    insights
        .iter()
        .map(|i| (i.uid.to_string(), serde_json::to_value(&i.insight).unwrap()))
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Each informer holds exactly what it last reported, whatever the others report with the
    /// same uids; `removed` counts only its own insights; and a report of a third party (Health
    /// only, by policy) leaves every other informer's groups in the published status as they were.
    #[test]
    fn one_informer_never_changes_reads_or_removes_anothers_insights(history in steps(12)) {
        let mut store = Store::new();
        let mut model: BTreeMap<&str, Vec<ReportedInsight>> = BTreeMap::new();
        for (t, (informer, insights)) in history.into_iter().enumerate() {
            let now = at(60 * t as u32);
            let before = store.status(now, usize::MAX);
            let others_before: Vec<_> = INFORMERS
                .iter()
                .filter(|o| **o != informer)
                .map(|o| (store.insights(&name(o)).map(<[_]>::to_vec), store.last_report(&name(o))))
                .collect();
            let previous = model.get(informer).map(|v| reported(v)).unwrap_or_default();
            let outcome = store.replace(&name(informer), !third_party(informer), insights.clone(), now);
            let gone = previous
                .iter()
                .filter(|(uid, _)| !insights.iter().any(|i| i.uid.as_str() == uid))
                .count();
            prop_assert_eq!(outcome.removed, gone);
            prop_assert_eq!(outcome.held, insights.len());
            model.insert(informer, insights);

            // The others: untouched, acquiredAt and last report time included.
            let others_after: Vec<_> = INFORMERS
                .iter()
                .filter(|o| **o != informer)
                .map(|o| (store.insights(&name(o)).map(<[_]>::to_vec), store.last_report(&name(o))))
                .collect();
            prop_assert_eq!(&others_before, &others_after);
            // Reads: each informer sees exactly its own last report, in its order.
            for o in INFORMERS {
                let held = store.insights(&name(o)).map(content);
                prop_assert_eq!(held, model.get(o).map(|v| reported(v)), "informer {}", o);
            }
            if third_party(informer) {
                let after = store.status(now, usize::MAX);
                for o in INFORMERS.iter().filter(|o| **o != informer) {
                    prop_assert_eq!(routed(&before, o), routed(&after, o), "informer {}", o);
                }
            }
        }
    }

    /// Sending the same report again changes nothing: `changed` is false, nothing is removed,
    /// every `acquiredAt` is kept, and the published status is identical.
    #[test]
    fn a_repeated_report_is_a_no_op(history in steps(8), repeat in any::<prop::sample::Index>()) {
        let mut store = Store::new();
        for (t, (informer, insights)) in history.iter().enumerate() {
            apply(&mut store, informer, insights.clone(), at(60 * t as u32));
        }
        // The informer's latest report, sent again.
        let informer = history[repeat.index(history.len())].0;
        let insights = history.iter().rev().find(|(i, _)| *i == informer).unwrap().1.clone();
        let now = at(100_000);
        let held_before: Vec<_> = INFORMERS.iter().map(|o| store.insights(&name(o)).map(<[_]>::to_vec)).collect();
        let status_before = store.status(now, DEFAULT_BUDGET_BYTES);

        let outcome = store.replace(&name(informer), !third_party(informer), insights.clone(), now);
        prop_assert!(!outcome.changed, "a repeated report changed the store");
        prop_assert_eq!(outcome.removed, 0);
        prop_assert_eq!(outcome.held, insights.len());
        let held_after: Vec<_> = INFORMERS.iter().map(|o| store.insights(&name(o)).map(<[_]>::to_vec)).collect();
        prop_assert_eq!(held_before, held_after, "acquiredAt or content changed");
        prop_assert_eq!(store.last_report(&name(informer)), Some(now));
        prop_assert_eq!(
            with_last_report(status_before, informer, now),
            store.status(now, DEFAULT_BUDGET_BYTES)
        );
    }

    /// For any budget, the status as JSON is at most that many bytes unless every insight had to
    /// be left out, and for each informer, what the object holds, its node objects and what it
    /// says it omitted is what the informer reported; the health count is the Health insights the
    /// object holds; third parties' insights go before any owner's, and owners' health insights
    /// are the last to go.
    #[test]
    fn the_published_status_fits_the_budget_and_its_omitted_counts_add_up(
        history in steps(10),
        fraction in 0.0f64..1.1,
        shave in 0usize..64,
    ) {
        let mut store = Store::new();
        let mut model: BTreeMap<&str, usize> = BTreeMap::new();
        for (t, (informer, insights)) in history.into_iter().enumerate() {
            model.insert(informer, insights.len());
            apply(&mut store, informer, insights, at(60 * t as u32));
        }
        let now = at(100_000);
        let full = serde_json::to_vec(&store.status(now, usize::MAX)).unwrap().len();
        // Budgets anywhere below the full size, and just under it, where estimates go wrong.
        for budget in [(full as f64 * fraction) as usize, full.saturating_sub(shave)] {
            let publication = store.publication(now, budget);
            let status = publication.status;
            // Node insights are never left out: each is its own NodeProgressInsight.
            let nodes_of = |informer: &str| {
                publication
                    .nodes
                    .values()
                    .filter(|n| n.informer.as_str() == informer)
                    .count()
            };
            let size = serde_json::to_vec(&status).unwrap().len();
            let kept: usize = INFORMERS.iter().map(|o| held_in_object(&status, o)).sum();
            prop_assert!(
                size <= budget || kept == 0,
                "status of {} bytes over a budget of {} (full {}) with {} insights kept",
                size, budget, full, kept
            );
            for (informer, sent) in &model {
                let summary = status.informers.iter().find(|s| s.name.as_str() == *informer).unwrap();
                let omitted: i32 = summary.omitted.iter().map(|o| o.count.get()).sum();
                prop_assert_eq!(summary.insights.get() as usize, *sent);
                prop_assert_eq!(
                    held_in_object(&status, informer) + nodes_of(informer) + omitted as usize,
                    *sent,
                    "informer {}: held + node objects + omitted", informer
                );
            }
            let health: usize = routed_all(&status)
                .filter(|i| i.insight.insight_type() == InsightType::Health)
                .count();
            prop_assert_eq!(status.health_insights.get() as usize, health);
            // Third parties first: an owner's insight is left out only once no third party's
            // is in the object.
            let owners_omitted = status
                .informers
                .iter()
                .filter(|s| !third_party(s.name.as_str()))
                .any(|s| !s.omitted.is_empty());
            if owners_omitted {
                let third: usize = INFORMERS
                    .iter()
                    .filter(|o| third_party(o))
                    .map(|o| held_in_object(&status, o))
                    .sum();
                prop_assert_eq!(third, 0, "an owner's insight went before a third party's");
            }
            // Then least informative first: an owner's health insight is left out only once
            // every node and operator insight is.
            let health_omitted = status
                .informers
                .iter()
                .filter(|s| !third_party(s.name.as_str()))
                .flat_map(|s| s.omitted.iter())
                .any(|o| o.type_ == InsightType::Health);
            if health_omitted {
                let lesser = routed_all(&status)
                    .map(|i| i.insight.insight_type())
                    .find(|t| matches!(t, InsightType::Node | InsightType::ClusterOperator));
                prop_assert_eq!(lesser, None, "a health insight went before a less informative one");
            }
        }
    }
}

/// `status` with `informer`'s summary showing a report at `now`.
fn with_last_report(
    status: UpgradeStatusStatus,
    informer: &str,
    now: Timestamp,
) -> UpgradeStatusStatus {
    let mut summaries = status.informers.into_vec();
    for s in summaries.iter_mut().filter(|s| s.name.as_str() == informer) {
        s.last_report_time = Some(now);
    }
    UpgradeStatusStatus {
        informers: BoundedVec::new(summaries).unwrap(),
        ..status
    }
}

fn held_in_object(status: &UpgradeStatusStatus, informer: &str) -> usize {
    routed(status, informer)
        .iter()
        .map(|(_, g)| g.insights.len())
        .sum()
}

fn routed_all(status: &UpgradeStatusStatus) -> impl Iterator<Item = &Insight> {
    status
        .control_plane
        .iter()
        .flat_map(|cp| cp.informers.iter())
        .chain(status.worker_pools.iter().flat_map(|p| p.informers.iter()))
        .flat_map(|g| g.insights.iter())
}

/// Regression (found by the budget property): every budget between the full size and nothing,
/// over a ClusterVersion insight whose `Updating` condition the object repeats under
/// `controlPlane` (so the size estimate is short) and completed nodes and a health insight.
/// Each status must fit, and the least informative insights must go first: a health insight
/// is never left out while a node is kept.
#[test]
fn every_budget_is_met_least_informative_first() {
    let node = |i: u32| -> ReportedInsight {
        let name = format!("node-{i}");
        serde_json::from_value(json!({"uid": name, "insight": {"type": "Node", "node": {
            "name": name,
            "resource": {"resource": "nodes", "name": name},
            "poolResource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
            "scopeType": "WorkerPool",
            "conditions": [condition("Updating", "False", "Completed", text(300, i as u8))],
        }}}))
        .unwrap()
    };
    let version: ReportedInsight = serde_json::from_value(json!({"uid": "cv", "insight": {"type": "ClusterVersion", "clusterVersion": {
        "name": "version",
        "resource": {"group": "config.openshift.io", "resource": "clusterversions", "name": "version"},
        "conditions": [condition("Updating", "True", "ClusterVersionProgressing", text(9000, 1))],
        "assessment": "Progressing",
        "versions": {"target": {"version": "4.17.0"}},
        "completion": 40,
        "operators": {"updated": 2, "total": 5},
        "expectedDurationSeconds": 3600,
    }}}))
    .unwrap();
    let health: ReportedInsight =
        serde_json::from_value(json!({"uid": "h", "insight": {"type": "Health", "health": {
            "scope": {"type": "WorkerPool", "pool": "worker"},
            "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": text(200, 2)},
            "remediation": {"reference": "https://example.com/runbook"},
        }}}))
        .unwrap();
    let mut store = Store::new();
    store.replace(
        &name("machine-config"),
        true,
        (0..6).map(node).collect(),
        at(0),
    );
    store.replace(&name("cluster-version"), true, vec![version], at(0));
    store.replace(
        &name("example-storage-operator"),
        false,
        vec![health],
        at(0),
    );
    let now = at(60);
    let full = serde_json::to_vec(&store.status(now, usize::MAX))
        .unwrap()
        .len();
    for budget in (0..=full).rev().step_by(37) {
        let status = store.status(now, budget);
        let size = serde_json::to_vec(&status).unwrap().len();
        let kept: Vec<InsightType> = routed_all(&status)
            .map(|i| i.insight.insight_type())
            .collect();
        assert!(
            size <= budget || kept.is_empty(),
            "{size} bytes over a budget of {budget} (full {full}), kept {kept:?}"
        );
        if !kept.contains(&InsightType::Health) {
            assert!(
                !kept.contains(&InsightType::Node),
                "budget {budget}: the health insight went before a node: {kept:?}"
            );
        }
    }
}
