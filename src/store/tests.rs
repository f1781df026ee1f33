use update_status_api::v1alpha1::*;
use update_status_api::wire::ReportedInsight;

use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn name(s: &str) -> InformerName {
    InformerName::new(s).unwrap()
}

fn node(n: &str, pool: &str, reason: &str) -> ReportedInsight {
    let v = serde_json::json!({
        "uid": format!("node-{n}"),
        "insight": {"type": "Node", "node": {
            "name": n,
            "resource": {"resource": "nodes", "name": n},
            "poolResource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": pool},
            "scopeType": if pool == "master" { "ControlPlane" } else { "WorkerPool" },
            "version": "4.16.0",
            "conditions": [{"type": "Updating", "status": "False", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": reason, "message": "The node is updated"}],
        }},
    });
    serde_json::from_value(v).unwrap()
}

fn health(uid: &str, scope: serde_json::Value) -> ReportedInsight {
    serde_json::from_value(serde_json::json!({
        "uid": uid,
        "insight": {"type": "Health", "health": {
            "scope": scope,
            "impact": {"level": "Warning", "type": "Update Speed", "summary": "slow"},
            "remediation": {"reference": "https://example.com"},
        }},
    }))
    .unwrap()
}

#[test]
fn a_repeated_report_changes_nothing_and_keeps_acquired_at() {
    let mut store = Store::new();
    let mc = name("machine-config");
    let first = store.replace(
        &mc,
        true,
        vec![node("a", "worker", "Completed")],
        t("2024-01-01T00:00:00Z"),
    );
    assert!(first.changed);
    let again = store.replace(
        &mc,
        true,
        vec![node("a", "worker", "Completed")],
        t("2024-01-01T00:05:00Z"),
    );
    assert_eq!(
        again,
        ReplaceOutcome {
            held: 1,
            removed: 0,
            changed: false
        }
    );
    assert_eq!(
        store.insights(&mc).unwrap()[0].acquired_at,
        t("2024-01-01T00:00:00Z")
    );
}

#[test]
fn a_report_is_the_full_state_and_only_touches_its_own_informer() {
    let mut store = Store::new();
    let (mc, other) = (name("machine-config"), name("storage"));
    store.replace(
        &mc,
        true,
        vec![
            node("a", "worker", "Completed"),
            node("b", "worker", "Pending"),
        ],
        t("2024-01-01T00:00:00Z"),
    );
    store.replace(
        &other,
        false,
        vec![health("h1", serde_json::json!({"type": "ControlPlane"}))],
        t("2024-01-01T00:00:00Z"),
    );
    let out = store.replace(
        &mc,
        true,
        vec![node("b", "worker", "Completed")],
        t("2024-01-01T00:01:00Z"),
    );
    assert_eq!((out.held, out.removed, out.changed), (1, 1, true));
    assert_eq!(
        store.insights(&mc).unwrap()[0].acquired_at,
        t("2024-01-01T00:01:00Z"),
        "changed content is re-acquired"
    );
    assert_eq!(store.insights(&other).unwrap().len(), 1);
}

#[test]
fn routing_puts_control_plane_and_pools_where_they_belong() {
    let mut store = Store::new();
    store.replace(
        &name("machine-config"),
        true,
        vec![
            node("m", "master", "Completed"),
            node("w1", "worker", "Completed"),
            node("i1", "infra", "Pending"),
        ],
        t("2024-01-01T00:00:00Z"),
    );
    store.replace(
        &name("storage"),
        false,
        vec![
            health("cp", serde_json::json!({"type": "ControlPlane"})),
            health(
                "wp",
                serde_json::json!({"type": "WorkerPool", "pool": "worker"}),
            ),
            health(
                "mp",
                serde_json::json!({"type": "WorkerPool", "pool": "master"}),
            ),
        ],
        t("2024-01-01T00:00:00Z"),
    );
    let status = store.status(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);
    let cp = status.control_plane.unwrap();
    let uids = |i: &InformerInsights| {
        i.insights
            .iter()
            .map(|x| x.uid.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cp.informers.iter().map(uids).collect::<Vec<_>>(),
        vec![vec!["node-m"], vec!["cp", "mp"]]
    );
    let pools: Vec<&str> = status
        .worker_pools
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(pools, vec!["infra", "worker"]);
    assert_eq!(uids(&status.worker_pools[1].informers[1]), vec!["wp"]);
    assert_eq!(status.health_insights.get(), 3);
    assert_eq!(status.observed_at, Some(t("2024-01-01T00:02:00Z")));
}

#[test]
fn over_budget_completed_nodes_go_first_health_last_and_are_counted() {
    let mut store = Store::new();
    let mc = name("machine-config");
    let mut insights: Vec<ReportedInsight> = (0..200)
        .map(|i| node(&format!("done-{i}"), "worker", "Completed"))
        .collect();
    insights.extend((0..20).map(|i| node(&format!("pending-{i}"), "worker", "Pending")));
    insights.push(health(
        "stuck",
        serde_json::json!({"type": "WorkerPool", "pool": "worker"}),
    ));
    store.replace(&mc, true, insights, t("2024-01-01T00:00:00Z"));
    let unlimited = store.status(t("2024-01-01T00:00:00Z"), usize::MAX);
    let full_size = serde_json::to_vec(&unlimited).unwrap().len();
    let budget = full_size / 2;
    let status = store.status(t("2024-01-01T00:00:00Z"), budget);
    assert!(serde_json::to_vec(&status).unwrap().len() <= budget);
    let kept: Vec<String> = status.worker_pools[0].informers[0]
        .insights
        .iter()
        .map(|x| x.uid.to_string())
        .collect();
    assert!(
        kept.contains(&"stuck".to_owned()),
        "health insights are kept"
    );
    assert!(
        kept.iter()
            .filter(|u| u.starts_with("node-pending"))
            .count()
            == 20,
        "pending nodes outrank completed ones"
    );
    let summary = status.informers.iter().find(|s| s.name == mc).unwrap();
    let omitted: i32 = summary.omitted.iter().map(|o| o.count.get()).sum();
    assert_eq!(omitted as usize + kept.len(), 221, "omitted counts add up");
    assert_eq!(summary.insights.get(), 221);
}

#[test]
fn resuming_from_the_published_status_restores_what_it_shows() {
    let mut store = Store::new();
    let mc = name("machine-config");
    let storage = name("storage");
    let at = t("2024-01-01T00:00:00Z");
    store.replace(
        &mc,
        true,
        vec![
            node("a", "master", "Completed"),
            node("b", "worker", "Completed"),
        ],
        at,
    );
    store.replace(
        &storage,
        false,
        vec![health(
            "h1",
            serde_json::json!({"type": "WorkerPool", "pool": "worker"}),
        )],
        t("2024-01-01T00:01:00Z"),
    );
    let published = store.status(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);

    let mut resumed = Store::new();
    resumed.resume(&published);
    assert!(resumed.is_builtin(&mc));
    assert!(!resumed.is_builtin(&storage));
    assert_eq!(resumed.insights(&mc).map(<[_]>::len), Some(2));
    assert_eq!(resumed.insights(&storage), store.insights(&storage));
    assert_eq!(
        resumed.last_report(&storage),
        Some(t("2024-01-01T00:01:00Z"))
    );
    // The same object comes out again: nothing was lost in the round trip.
    let again = resumed.status(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);
    assert_eq!(again.informers, published.informers);
    assert_eq!(again.worker_pools, published.worker_pools);
    assert_eq!(again.control_plane, published.control_plane);

    // What the store already holds is not overwritten by an older object.
    let mut newer = Store::new();
    newer.replace(&storage, false, vec![], t("2024-01-01T00:03:00Z"));
    newer.resume(&published);
    assert_eq!(newer.insights(&storage).map(<[_]>::len), Some(0));
}

#[test]
fn health_scoped_to_made_up_pools_cannot_push_a_real_pool_out() {
    let mut store = Store::new();
    let (mc, third) = (name("machine-config"), name("storage"));
    let now = t("2024-01-01T00:00:00Z");
    store.replace(&mc, true, vec![node("a", "worker", "Completed")], now);
    // More pools than the object holds, all sorting before `worker`.
    let flood: Vec<_> = (0..MAX_WORKER_POOLS)
        .map(|i| {
            health(
                &format!("h{i}"),
                serde_json::json!({"type": "WorkerPool", "pool": format!("a-{i:02}")}),
            )
        })
        .collect();
    store.replace(&third, false, flood, now);
    let status = store.status(now, DEFAULT_BUDGET_BYTES);
    let pools: Vec<&str> = status
        .worker_pools
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(pools.len(), MAX_WORKER_POOLS);
    assert!(pools.contains(&"worker"), "{pools:?}");
    assert!(
        pools.windows(2).all(|w| w[0] < w[1]),
        "name order: {pools:?}"
    );
    let summary = |n: &InformerName| {
        status
            .informers
            .iter()
            .find(|s| &s.name == n)
            .unwrap()
            .omitted
            .iter()
            .map(|o| (o.type_, o.count.get()))
            .collect::<Vec<_>>()
    };
    assert!(summary(&mc).is_empty(), "machine-config lost nothing");
    assert_eq!(summary(&third), [(InsightType::Health, 1)]);
}
