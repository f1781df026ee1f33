//! Routing: where each insight goes in the object. ClusterVersion and ClusterOperator insights,
//! the control-plane pool and its nodes go under `controlPlane`; other pools under
//! `workerPools[]`, created from pool insights and from the pools nodes and health insights name.

use std::collections::BTreeMap;

use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    Condition, ConditionStatus, Conditions, ControlPlane, InformerInsights, InformerName,
    InformerSource, InformerState, InformerSummary, Insight, InsightPayload, InsightType,
    MAX_INFORMER_SUMMARIES, MAX_INFORMERS, MAX_INSIGHTS_PER_INFORMER, MAX_WORKER_POOLS, NodeCount,
    ObjectName, OmittedInsights, PoolAssessment, RESERVED_INFORMER_NAMES, ResourceRef,
    STATUS_INSIGHT_INFORMERS, ScopeType, UpgradeStatusStatus, WorkerPool, find_condition,
};

/// One informer as the store holds it.
pub(super) struct InformerView<'a> {
    pub name: &'a InformerName,
    pub builtin: bool,
    pub state: InformerState,
    pub last_report: Option<Timestamp>,
    /// The insights that go into the singleton (node insights have their own objects).
    pub insights: &'a [Insight],
    /// Every insight the informer holds, node insights included, for its summary.
    pub held: usize,
}

/// Where an insight belongs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Destination {
    ControlPlane,
    Pool(ObjectName),
}

/// The name of the control-plane pool: the pool insight scoped ControlPlane, or `master`.
pub(super) fn control_plane_pool(view: &[InformerView<'_>]) -> String {
    view.iter()
        .flat_map(|v| v.insights.iter())
        .find_map(|i| match &i.insight {
            InsightPayload::MachineConfigPool(p) if p.scope_type == ScopeType::ControlPlane => {
                Some(p.name.to_string())
            }
            _ => None,
        })
        .unwrap_or_else(|| "master".to_owned())
}

/// Where `insight` goes, given the control-plane pool's name.
pub(super) fn destination(insight: &Insight, cp_pool: &str) -> Destination {
    let pool = |name: &ObjectName| {
        if name.as_str() == cp_pool {
            Destination::ControlPlane
        } else {
            Destination::Pool(name.clone())
        }
    };
    match &insight.insight {
        InsightPayload::ClusterVersion(_) | InsightPayload::ClusterOperator(_) => {
            Destination::ControlPlane
        }
        InsightPayload::MachineConfigPool(p) => match p.scope_type {
            ScopeType::ControlPlane => Destination::ControlPlane,
            ScopeType::WorkerPool => pool(&p.name),
        },
        InsightPayload::Node(n) => {
            match (n.scope_type, ObjectName::new(n.pool_resource.name.as_str())) {
                (ScopeType::WorkerPool, Ok(name)) => pool(&name),
                _ => Destination::ControlPlane,
            }
        }
        InsightPayload::Health(h) => match (&h.scope.type_, &h.scope.pool) {
            (ScopeType::WorkerPool, Some(name)) => pool(name),
            _ => Destination::ControlPlane,
        },
    }
}

/// Insights left out, per informer and type.
pub(super) type Omitted = BTreeMap<(InformerName, InsightType), usize>;

/// Builds the status from the insights `keep` accepts; `omitted` counts what the budget left
/// out, and whatever the object's list limits cannot hold is counted here as well.
pub(super) fn build(
    view: &[InformerView<'_>],
    keep: &dyn Fn(usize, usize) -> bool,
    mut omitted: Omitted,
    now: Timestamp,
) -> UpgradeStatusStatus {
    let cp_pool = control_plane_pool(view);
    let mut scopes: BTreeMap<Destination, Vec<(InformerName, Vec<Insight>)>> = BTreeMap::new();
    scopes.entry(Destination::ControlPlane).or_default();
    let mut health = 0usize;
    for (vi, v) in view.iter().enumerate() {
        for (ii, insight) in v.insights.iter().enumerate() {
            if !keep(vi, ii) {
                continue;
            }
            if insight.insight.insight_type() == InsightType::Health {
                health += 1;
            }
            let lists = scopes.entry(destination(insight, &cp_pool)).or_default();
            match lists.last_mut() {
                Some((name, list)) if name == v.name => list.push(insight.clone()),
                _ => lists.push((v.name.clone(), vec![insight.clone()])),
            }
        }
    }

    let mut control_plane = ControlPlane::default();
    let mut worker_pools = Vec::new();
    for (dest, informers) in scopes {
        let informers = bounded_informers(informers, &mut omitted);
        match dest {
            Destination::ControlPlane => {
                control_plane = control_plane_of(informers, &cp_pool);
            }
            Destination::Pool(name) => worker_pools.push(worker_pool_of(name, informers)),
        }
    }
    if worker_pools.len() > MAX_WORKER_POOLS {
        // Pools holding MachineConfigPool or Node insights (which only their owners may send)
        // are kept first: Health insights scoped to made-up pools must not push real pools out.
        // The sort is stable, so each group stays in name order; the kept ones are re-sorted.
        let stands_for_a_pool = |p: &WorkerPool| {
            p.informers
                .iter()
                .flat_map(|i| i.insights.iter())
                .any(|x| x.insight.insight_type() != InsightType::Health)
        };
        worker_pools.sort_by_key(|p| !stands_for_a_pool(p));
        let cut: Vec<WorkerPool> = worker_pools.drain(MAX_WORKER_POOLS..).collect();
        worker_pools.sort_by(|a, b| a.name.cmp(&b.name));
        for pool in cut {
            for i in pool.informers.iter() {
                for x in i.insights.iter() {
                    *omitted
                        .entry((i.name.clone(), x.insight.insight_type()))
                        .or_default() += 1;
                }
            }
        }
    }

    let present: std::collections::HashSet<&InformerName> = control_plane
        .informers
        .iter()
        .chain(worker_pools.iter().flat_map(|p| p.informers.iter()))
        .map(|i| &i.name)
        .collect();
    let (summarized, left_out) = summarized(view, &present);
    let summaries = view
        .iter()
        .enumerate()
        .filter(|(vi, _)| summarized.contains(vi))
        .map(|(_, v)| {
            let left_out: Vec<OmittedInsights> = InsightType::ALL
                .iter()
                .filter_map(|t| {
                    let n = omitted.get(&(v.name.clone(), *t)).copied().unwrap_or(0);
                    (n > 0).then(|| OmittedInsights {
                        type_: *t,
                        count: count(n),
                    })
                })
                .collect();
            InformerSummary {
                name: v.name.clone(),
                source: InformerSource::of(v.builtin),
                state: v.state,
                last_report_time: v.last_report,
                insights: count(v.held),
                omitted: BoundedVec::new(left_out).unwrap_or_default(),
            }
        })
        .collect();

    UpgradeStatusStatus {
        conditions: Conditions::default(),
        observed_at: Some(now),
        control_plane: Some(control_plane),
        worker_pools: BoundedVec::new(worker_pools).unwrap_or_default(),
        informers: BoundedVec::new(summaries).unwrap_or_default(),
        omitted_informers: (left_out > 0).then(|| count(left_out)),
        health_insights: count(health),
    }
}

/// Which informers (indexes into `view`) get one of the [`MAX_INFORMER_SUMMARIES`] summaries,
/// and how many do not. Owners of the update's status come first, then informers whose
/// insights the object holds (`present`), then the rest, each group in name order: a crowd of
/// registered but silent informers cannot hide who said what, nor empty the list.
fn summarized(
    view: &[InformerView<'_>],
    present: &std::collections::HashSet<&InformerName>,
) -> (std::collections::HashSet<usize>, usize) {
    let mut order: Vec<usize> = (0..view.len()).collect();
    order.sort_by_key(|&i| {
        view.get(i).map_or((true, true), |v| {
            (!is_owner(v.name), !present.contains(v.name))
        })
    });
    let kept: std::collections::HashSet<usize> =
        order.into_iter().take(MAX_INFORMER_SUMMARIES).collect();
    let left_out = view.len() - kept.len();
    (kept, left_out)
}

/// A count as the API's bounded integer (saturating at its maximum).
pub(super) fn count(n: usize) -> NodeCount {
    let n = i32::try_from(n).unwrap_or(i32::MAX).min(NodeCount::MAX);
    NodeCount::new(n).unwrap_or_default()
}

/// Whether `name` is an owner of part of the update's status: a built-in informer, or the
/// remote producer that takes over from one (only those may send status insights). Every other
/// informer is a third party: its insights are bounded by a share of the budget, left out
/// first, and it takes a scope's informer slot only after the owners.
pub(super) fn is_owner(name: &InformerName) -> bool {
    STATUS_INSIGHT_INFORMERS.contains(&name.as_str())
        || RESERVED_INFORMER_NAMES.contains(&name.as_str())
}

fn bounded_informers(
    informers: Vec<(InformerName, Vec<Insight>)>,
    omitted: &mut Omitted,
) -> BoundedVec<InformerInsights, MAX_INFORMERS> {
    // Owners take their slots first: a third party named before `machine-config` must not
    // push it out of the scope. The rest keep name order.
    let mut slots: Vec<usize> = (0..informers.len()).collect();
    slots.sort_by_key(|&i| (informers.get(i).is_none_or(|(n, _)| !is_owner(n)), i));
    let kept: std::collections::HashSet<usize> = slots.into_iter().take(MAX_INFORMERS).collect();
    let mut out = Vec::new();
    for (i, (name, mut insights)) in informers.into_iter().enumerate() {
        let overflow: Vec<Insight> = if !kept.contains(&i) {
            std::mem::take(&mut insights)
        } else if insights.len() > MAX_INSIGHTS_PER_INFORMER {
            insights.split_off(MAX_INSIGHTS_PER_INFORMER)
        } else {
            Vec::new()
        };
        for x in &overflow {
            *omitted
                .entry((name.clone(), x.insight.insight_type()))
                .or_default() += 1;
        }
        if !insights.is_empty() {
            out.push(InformerInsights {
                name,
                insights: BoundedVec::new(insights).unwrap_or_default(),
            });
        }
    }
    BoundedVec::new(out).unwrap_or_default()
}

fn control_plane_of(
    informers: BoundedVec<InformerInsights, MAX_INFORMERS>,
    cp_pool: &str,
) -> ControlPlane {
    let mut cp = ControlPlane::default();
    for x in informers.iter().flat_map(|i| i.insights.iter()) {
        match &x.insight {
            InsightPayload::ClusterVersion(cv) if cp.resource.is_none() => {
                cp.resource = Some(cv.resource.clone());
                cp.target_version = cv.versions.target.version.clone();
                cp.completion = Some(cv.completion);
                if let Some(c) = find_condition(&cv.conditions, "Updating") {
                    cp.conditions = BoundedVec::new(vec![c.clone()]).unwrap_or_default();
                }
            }
            InsightPayload::MachineConfigPool(p) if p.name.as_str() == cp_pool => {
                cp.pool_resource = Some(p.resource.clone());
            }
            _ => {}
        }
    }
    cp.informers = informers;
    cp
}

fn worker_pool_of(
    name: ObjectName,
    informers: BoundedVec<InformerInsights, MAX_INFORMERS>,
) -> WorkerPool {
    let mut resource: Option<ResourceRef> = None;
    let mut conditions = Conditions::default();
    for x in informers.iter().flat_map(|i| i.insights.iter()) {
        if let InsightPayload::MachineConfigPool(p) = &x.insight
            && p.name == name
            && resource.is_none()
        {
            resource = Some(p.resource.clone());
            let updating = find_condition(&p.conditions, "Updating")
                .cloned()
                .or_else(|| pool_updating(p.assessment, x.acquired_at));
            conditions = BoundedVec::new(updating.into_iter().collect()).unwrap_or_default();
        }
    }
    WorkerPool {
        name,
        resource,
        conditions,
        informers,
    }
}

/// The pool's `Updating` condition when its insight does not carry one.
fn pool_updating(assessment: PoolAssessment, since: Timestamp) -> Option<Condition> {
    let (status, reason, message) = match assessment {
        PoolAssessment::Completed => (
            ConditionStatus::False,
            "Completed",
            "All nodes of the pool are updated",
        ),
        PoolAssessment::Pending => (
            ConditionStatus::False,
            "Pending",
            "No node of the pool has started updating",
        ),
        PoolAssessment::Excluded => (
            ConditionStatus::False,
            "Excluded",
            "The pool is paused and its nodes are not updated",
        ),
        PoolAssessment::Progressing | PoolAssessment::Degraded => (
            ConditionStatus::True,
            "Progressing",
            "Nodes of the pool are updating",
        ),
    };
    Condition::new("Updating", status, since, reason, message).ok()
}
