//! Finds the insights the renderer needs where the contract (`docs/object-contract.md`) stores them.

use std::collections::BTreeMap;

use update_status_api::v1alpha1::{
    ClusterOperatorInsight, ClusterVersionInsight, HealthInsight, InformerInsights, InsightPayload,
    MachineConfigPoolInsight, NodeInsight, ScopeType, UpgradeStatusStatus,
};

use super::pools::PoolView;

/// The name of the built-in informer that reports pools and nodes.
const MACHINE_CONFIG: &str = "machine-config";
/// Informers whose health insights come right after the machine-config ones, in this order, as `oc`
/// appends alert insights and then control-plane insights.
const AFTER_MACHINE_CONFIG: [&str; 2] = ["alerts", "cluster-version"];
/// The pool name `oc` treats as the control plane when the object names none.
const DEFAULT_CONTROL_PLANE_POOL: &str = "master";

/// Every payload of a scope, informer by informer, each in stored order.
fn payloads(informers: &[InformerInsights]) -> impl Iterator<Item = &InsightPayload> {
    informers
        .iter()
        .flat_map(|informer| informer.insights.iter().map(|i| &i.insight))
}

fn control_plane_informers(status: &UpgradeStatusStatus) -> &[InformerInsights] {
    status
        .control_plane
        .as_ref()
        .map_or(&[], |cp| &*cp.informers)
}

/// The ClusterVersion insight; the object describes no update without one.
pub(crate) fn cluster_version(status: &UpgradeStatusStatus) -> Option<&ClusterVersionInsight> {
    payloads(control_plane_informers(status)).find_map(|p| match p {
        InsightPayload::ClusterVersion(cv) => Some(cv.as_ref()),
        _ => None,
    })
}

/// The ClusterOperator insights, in stored (ClusterOperator list) order.
pub(crate) fn cluster_operators(status: &UpgradeStatusStatus) -> Vec<&ClusterOperatorInsight> {
    payloads(control_plane_informers(status))
        .filter_map(|p| match p {
            InsightPayload::ClusterOperator(co) => Some(co),
            _ => None,
        })
        .collect()
}

fn pool_insight(informers: &[InformerInsights]) -> Option<&MachineConfigPoolInsight> {
    payloads(informers).find_map(|p| match p {
        InsightPayload::MachineConfigPool(mcp) => Some(mcp),
        _ => None,
    })
}

/// The node insights of the pool `pool`.
fn nodes_of<'a>(nodes: &[&'a NodeInsight], pool: &str) -> Vec<&'a NodeInsight> {
    nodes
        .iter()
        .filter(|n| n.pool_resource.name.as_str() == pool)
        .copied()
        .collect()
}

/// The control-plane pool's name: `controlPlane.poolResource`, else its pool insight, else `master`.
pub(crate) fn control_plane_pool_name(status: &UpgradeStatusStatus) -> String {
    let from_resource = status
        .control_plane
        .as_ref()
        .and_then(|cp| cp.pool_resource.as_ref())
        .map(|r| r.name.as_str().to_owned());
    let from_insight = || {
        payloads(control_plane_informers(status)).find_map(|p| match p {
            InsightPayload::MachineConfigPool(mcp) if mcp.scope_type == ScopeType::ControlPlane => {
                Some(mcp.name.as_str().to_owned())
            }
            _ => None,
        })
    };
    from_resource
        .or_else(from_insight)
        .unwrap_or_else(|| DEFAULT_CONTROL_PLANE_POOL.to_owned())
}

/// The control-plane pool and the worker pools, in pool name order: those the object lists, and
/// those only node objects name. `nodes` are the node insights (from the NodeProgressInsights).
pub(crate) fn pools(
    status: &UpgradeStatusStatus,
    nodes: &[&NodeInsight],
) -> (PoolView, Vec<PoolView>) {
    let cp_name = control_plane_pool_name(status);
    let control_plane = PoolView::build(
        &cp_name,
        true,
        pool_insight(control_plane_informers(status)),
        &nodes_of(nodes, &cp_name),
    );
    let mut names: BTreeMap<&str, &[InformerInsights]> = status
        .worker_pools
        .iter()
        .map(|pool| (pool.name.as_str(), &*pool.informers))
        .collect();
    for node in nodes {
        let pool = node.pool_resource.name.as_str();
        if pool != cp_name {
            names.entry(pool).or_default();
        }
    }
    let workers = names
        .into_iter()
        .map(|(name, informers)| {
            PoolView::build(name, false, pool_insight(informers), &nodes_of(nodes, name))
        })
        .collect();
    (control_plane, workers)
}

/// Health insights in the contract's order: machine-config pool by pool in pool name order, then
/// `alerts`, then `cluster-version`, then other informers by name (control plane first, then the worker
/// pools), each informer's insights in stored order. This is the order `oc` builds its list in before
/// sorting it, which decides the order of ties.
pub(crate) fn health_insights(status: &UpgradeStatusStatus) -> Vec<(&str, &HealthInsight)> {
    let cp_pool = control_plane_pool_name(status);
    let mut scopes: Vec<(&str, &[InformerInsights])> =
        vec![(cp_pool.as_str(), control_plane_informers(status))];
    scopes.extend(
        status
            .worker_pools
            .iter()
            .map(|p| (p.name.as_str(), &*p.informers)),
    );

    let mut names: Vec<&str> = scopes
        .iter()
        .flat_map(|(_, informers)| informers.iter().map(|i| i.name.as_str()))
        .filter(|n| *n != MACHINE_CONFIG && !AFTER_MACHINE_CONFIG.contains(n))
        .collect();
    names.sort_unstable();
    names.dedup();

    let mut by_pool_name = scopes.clone();
    by_pool_name.sort_by(|a, b| a.0.cmp(b.0));

    let mut out = Vec::new();
    take_health(&mut out, &by_pool_name, MACHINE_CONFIG);
    for informer in AFTER_MACHINE_CONFIG.iter().chain(names.iter()) {
        take_health(&mut out, &scopes, informer);
    }
    out
}

/// Appends the health insights of `informer` in each of `scopes`, in order.
fn take_health<'a>(
    out: &mut Vec<(&'a str, &'a HealthInsight)>,
    scopes: &[(&str, &'a [InformerInsights])],
    informer: &str,
) {
    for (_, informers) in scopes {
        for i in informers.iter().filter(|i| i.name.as_str() == informer) {
            out.extend(i.insights.iter().filter_map(|x| match &x.insight {
                InsightPayload::Health(h) => Some((i.name.as_str(), h.as_ref())),
                _ => None,
            }));
        }
    }
}
