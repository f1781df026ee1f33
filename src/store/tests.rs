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

fn operator(n: &str, updating_reason: &str) -> ReportedInsight {
    serde_json::from_value(serde_json::json!({
        "uid": format!("co-{n}"),
        "insight": {"type": "ClusterOperator", "clusterOperator": {
            "name": n,
            "resource": {"group": "config.openshift.io", "resource": "clusteroperators", "name": n},
            "conditions": [
                {"type": "Updating", "status": "False", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": updating_reason, "message": "The operator is at the target version"},
                {"type": "Healthy", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z", "reason": "AsExpected", "message": "All is well"},
            ],
        }},
    }))
    .unwrap()
}

fn health(uid: &str, scope: serde_json::Value) -> ReportedInsight {
    serde_json::from_value(serde_json::json!({
        "uid": uid,
        "insight": {"type": "Health", "health": {
            "scope": scope,
            "impact": {"level": "Warning", "type": "UpdateSpeed", "summary": "slow"},
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
    let publication = store.publication(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);
    let pool_of = |n: &str| publication.nodes[n].node.pool_resource.name.to_string();
    assert_eq!(
        [pool_of("m"), pool_of("w1"), pool_of("i1")],
        ["master", "worker", "infra"],
        "every node has its object, whatever its pool"
    );
    let status = publication.status;
    let cp = status.control_plane.unwrap();
    let uids = |i: &InformerInsights| {
        i.insights
            .iter()
            .map(|x| x.uid.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cp.informers.iter().map(uids).collect::<Vec<_>>(),
        vec![vec!["cp", "mp"]],
        "node insights are not in the singleton"
    );
    let pools: Vec<&str> = status
        .worker_pools
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(pools, vec!["worker"]);
    assert_eq!(uids(&status.worker_pools[0].informers[0]), vec!["wp"]);
    assert_eq!(status.health_insights.get(), 3);
    assert_eq!(status.observed_at, Some(t("2024-01-01T00:02:00Z")));
}

#[test]
fn over_budget_updated_operators_go_first_health_last_and_are_counted() {
    let mut store = Store::new();
    let cvo = name("cluster-version");
    let mut insights: Vec<ReportedInsight> = (0..200)
        .map(|i| operator(&format!("done-{i}"), "Updated"))
        .collect();
    insights.extend((0..20).map(|i| operator(&format!("pending-{i}"), "Pending")));
    insights.push(health("stuck", serde_json::json!({"type": "ControlPlane"})));
    // Nodes do not count against the singleton's budget: they have their own objects.
    insights.extend((0..500).map(|i| node(&format!("n{i}"), "worker", "Completed")));
    store.replace(&cvo, true, insights, t("2024-01-01T00:00:00Z"));
    let unlimited = store.status(t("2024-01-01T00:00:00Z"), usize::MAX);
    let full_size = stored_bytes(&unlimited);
    let budget = full_size / 2;
    let publication = store.publication(t("2024-01-01T00:00:00Z"), budget);
    assert_eq!(publication.nodes.len(), 500, "no node is left out");
    let status = publication.status;
    assert!(stored_bytes(&status) <= budget);
    let kept: Vec<String> = status.control_plane.as_ref().unwrap().informers[0]
        .insights
        .iter()
        .map(|x| x.uid.to_string())
        .collect();
    assert!(
        kept.contains(&"stuck".to_owned()),
        "health insights are kept"
    );
    assert_eq!(
        kept.iter().filter(|u| u.starts_with("co-pending")).count(),
        20,
        "operators still updating outrank updated ones"
    );
    let summary = status.informers.iter().find(|s| s.name == cvo).unwrap();
    let omitted: i32 = summary.omitted.iter().map(|o| o.count.get()).sum();
    assert!(omitted > 0);
    assert_eq!(omitted as usize + kept.len(), 221, "omitted counts add up");
    assert_eq!(
        summary.insights.get(),
        721,
        "the summary counts every insight held"
    );
}

#[test]
fn two_informers_reporting_one_node_publish_one_object_and_count_the_other() {
    let mut store = Store::new();
    let now = t("2024-01-01T00:00:00Z");
    store.replace(
        &name("machine-config"),
        true,
        vec![node("a", "worker", "Completed")],
        now,
    );
    store.replace(
        &name("zz-other"),
        false,
        vec![node("a", "worker", "Pending")],
        now,
    );
    let publication = store.publication(now, DEFAULT_BUDGET_BYTES);
    assert_eq!(publication.nodes.len(), 1);
    assert_eq!(publication.nodes["a"].informer.as_str(), "machine-config");
    let omitted = |n: &str| {
        publication
            .status
            .informers
            .iter()
            .find(|s| s.name.as_str() == n)
            .unwrap()
            .omitted
            .iter()
            .map(|o| (o.type_, o.count.get()))
            .collect::<Vec<_>>()
    };
    assert!(omitted("machine-config").is_empty());
    assert_eq!(omitted("zz-other"), [(InsightType::Node, 1)]);
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
    let publication = store.publication(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);
    assert_eq!(
        publication.nodes.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "node insights have their own objects"
    );
    let published = publication.status;

    let mut resumed = Store::new();
    resumed.resume(&published, &publication.nodes, |_| true);
    assert!(resumed.is_builtin(&mc));
    assert!(!resumed.is_builtin(&storage));
    assert_eq!(resumed.insights(&mc).map(<[_]>::len), Some(2));
    assert_eq!(resumed.insights(&storage), store.insights(&storage));
    assert_eq!(
        resumed.last_report(&storage),
        Some(t("2024-01-01T00:01:00Z"))
    );
    // The same object comes out again: nothing was lost in the round trip.
    let again = resumed.publication(t("2024-01-01T00:02:00Z"), DEFAULT_BUDGET_BYTES);
    assert_eq!(again.nodes, publication.nodes);
    let again = again.status;
    assert_eq!(again.informers, published.informers);
    assert_eq!(again.worker_pools, published.worker_pools);
    assert_eq!(again.control_plane, published.control_plane);

    // What the store already holds is not overwritten by an older object.
    let mut newer = Store::new();
    newer.replace(&storage, false, vec![], t("2024-01-01T00:03:00Z"));
    newer.resume(&published, &publication.nodes, |_| true);
    assert_eq!(newer.insights(&storage).map(<[_]>::len), Some(0));
}

#[test]
fn health_scoped_to_made_up_pools_cannot_push_a_real_pool_out() {
    let mut store = Store::new();
    let (mc, third) = (name("machine-config"), name("storage"));
    let now = t("2024-01-01T00:00:00Z");
    store.replace(
        &mc,
        true,
        vec![serde_json::from_value(serde_json::json!({
            "uid": "mcp-worker",
            "insight": {"type": "MachineConfigPool", "machineConfigPool": {
                "name": "worker",
                "resource": {"group": "machineconfiguration.openshift.io", "resource": "machineconfigpools", "name": "worker"},
                "scopeType": "WorkerPool",
                "assessment": "Completed",
            }},
        }))
        .unwrap()],
        now,
    );
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

#[test]
fn a_restart_keeps_the_published_times_of_facts_that_did_not_change() {
    // A built-in informer stamps conditions without a source time with its "now".
    let node_at = |n: &str, reason: &str, at: &str| -> ReportedInsight {
        let mut r = node(n, "worker", reason);
        if let InsightPayload::Node(x) = &mut r.insight {
            let mut c = x.conditions.to_vec();
            c[0].last_transition_time = t(at);
            x.conditions = BoundedVec::new(c).unwrap();
        }
        r
    };
    let mc = name("machine-config");
    let mut before = Store::new();
    before.replace(
        &mc,
        true,
        vec![
            node_at("a", "Completed", "2024-01-01T00:00:00Z"),
            node_at("b", "Completed", "2024-01-01T00:00:00Z"),
        ],
        t("2024-01-01T00:00:00Z"),
    );
    let published = before.publication(t("2024-01-01T00:01:00Z"), DEFAULT_BUDGET_BYTES);

    // Restarted: the informer assesses before the published objects are read. Node a is as it
    // was; node b's reason changed (same status); both are stamped with the new "now".
    let mut after = Store::new();
    after.replace(
        &mc,
        true,
        vec![
            node_at("a", "Completed", "2024-01-01T01:00:00Z"),
            node_at("b", "Paused", "2024-01-01T01:00:00Z"),
        ],
        t("2024-01-01T01:00:00Z"),
    );
    after.resume(&published.status, &published.nodes, |_| true);
    let again = after.publication(t("2024-01-01T01:01:00Z"), DEFAULT_BUDGET_BYTES);
    assert_eq!(
        again.nodes["a"], published.nodes["a"],
        "node a is not rewritten"
    );
    let b = &again.nodes["b"];
    assert_eq!(
        b.node.conditions[0].last_transition_time,
        t("2024-01-01T00:00:00Z"),
        "the status did not change, so the transition time does not move"
    );
    assert_eq!(b.node.conditions[0].reason.as_str(), "Paused");
    assert_eq!(
        b.acquired_at,
        t("2024-01-01T01:00:00Z"),
        "new content, newly acquired"
    );

    // The next assessment (new "now" again) changes nothing.
    let outcome = after.replace(
        &mc,
        true,
        vec![
            node_at("a", "Completed", "2024-01-01T02:00:00Z"),
            node_at("b", "Paused", "2024-01-01T02:00:00Z"),
        ],
        t("2024-01-01T02:00:00Z"),
    );
    assert!(!outcome.changed);
}

#[test]
fn more_informers_than_summaries_keep_owners_and_speakers_and_count_the_rest() {
    let mut store = Store::new();
    let t0 = t("2024-01-01T00:00:00Z");
    // 80 silent third parties named before everything else, one third party that speaks, and
    // the owner of operator insights: 82 informers for 64 summaries.
    for i in 0..80 {
        store.replace(&name(&format!("aaa-silent-{i:02}")), false, vec![], t0);
    }
    let speaker = name("zz-speaker");
    store.replace(
        &speaker,
        false,
        vec![health("h1", serde_json::json!({"type": "ControlPlane"}))],
        t0,
    );
    let cvo = name("cluster-version");
    store.replace(&cvo, true, vec![operator("etcd", "Updated")], t0);

    let status = store.status(t0, usize::MAX);
    let names: Vec<&str> = status.informers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), MAX_INFORMER_SUMMARIES, "{names:?}");
    assert!(names.contains(&"cluster-version"), "{names:?}");
    assert!(names.contains(&"zz-speaker"), "{names:?}");
    assert_eq!(status.omitted_informers.map(|n| n.get()), Some(82 - 64));
    // Still in name order, as a map-keyed list reads best.
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);

    // Under the cap, nothing is counted.
    let mut small = Store::new();
    small.replace(&cvo, true, vec![operator("etcd", "Updated")], t0);
    assert_eq!(small.status(t0, usize::MAX).omitted_informers, None);
}
