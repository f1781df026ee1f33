//! The size budget: the published object must stay under a byte limit (etcd refuses objects over
//! 1.5 MiB). When it would not fit, the least informative insights are left out first — completed,
//! healthy nodes before anything else, health insights last — and counted per informer and type.

use std::collections::HashSet;

use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    ConditionStatus, Insight, InsightPayload, UpgradeStatusStatus, find_condition,
};

use super::routing::{self, InformerView, Omitted};

/// The default budget: 1 MiB of JSON, leaving etcd's 1.5 MiB limit room for metadata.
pub const DEFAULT_BUDGET_BYTES: usize = 1024 * 1024;

/// Builds the status and, when it is over `budget` bytes of JSON, leaves insights out until it fits.
pub(super) fn fit(view: &[InformerView<'_>], now: Timestamp, budget: usize) -> UpgradeStatusStatus {
    let full = routing::build(view, &|_, _| true, Omitted::new(), now);
    let mut size = json_len(&full);
    if size <= budget {
        return full;
    }
    let mut candidates: Vec<(u8, usize, usize, usize)> = view
        .iter()
        .enumerate()
        .flat_map(|(vi, v)| {
            v.insights.iter().enumerate().map(move |(ii, x)| {
                (
                    rank(x),
                    vi,
                    ii,
                    serde_json::to_vec(x).map_or(0, |b| b.len() + 1),
                )
            })
        })
        .collect();
    // Least informative first; within a rank, the later an insight was reported, the sooner it goes.
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    let mut dropped: HashSet<(usize, usize)> = HashSet::new();
    let mut next = candidates.into_iter();
    loop {
        let mut excess = size.saturating_sub(budget) as i64;
        for (_, vi, ii, bytes) in next.by_ref() {
            dropped.insert((vi, ii));
            excess -= bytes as i64;
            if excess <= 0 {
                break;
            }
        }
        let mut omitted = Omitted::new();
        for &(vi, ii) in &dropped {
            if let Some((v, x)) = view
                .get(vi)
                .and_then(|v| v.insights.get(ii).map(|x| (v, x)))
            {
                *omitted
                    .entry((v.name.clone(), x.insight.insight_type()))
                    .or_default() += 1;
            }
        }
        let status = routing::build(view, &|vi, ii| !dropped.contains(&(vi, ii)), omitted, now);
        size = json_len(&status);
        if size <= budget || next.len() == 0 {
            return status;
        }
    }
}

/// The size of the status as JSON, which is how the API server stores custom resources.
pub(super) fn json_len(status: &UpgradeStatusStatus) -> usize {
    serde_json::to_vec(status).map_or(usize::MAX, |b| b.len())
}

/// How informative an insight is: lower ranks are left out first.
fn rank(x: &Insight) -> u8 {
    let is = |conds: &[update_status_api::v1alpha1::Condition], t: &str, s: ConditionStatus| {
        find_condition(conds, t).is_some_and(|c| c.status == s)
    };
    match &x.insight {
        InsightPayload::Node(n) => {
            let healthy = !is(&n.conditions, "Available", ConditionStatus::False)
                && !is(&n.conditions, "Degraded", ConditionStatus::True);
            let reason = find_condition(&n.conditions, "Updating").map(|c| c.reason.as_str());
            match (healthy, reason) {
                (true, Some("Completed")) => 0,
                (true, Some("Pending" | "Paused" | "Finishing")) => 1,
                (true, _) => 2,
                (false, _) => 4,
            }
        }
        InsightPayload::ClusterOperator(co) => {
            let done = find_condition(&co.conditions, "Updating")
                .is_some_and(|c| c.reason.as_str() == "Updated");
            if done && is(&co.conditions, "Healthy", ConditionStatus::True) {
                3
            } else {
                4
            }
        }
        InsightPayload::MachineConfigPool(_) => 5,
        InsightPayload::ClusterVersion(_) => 6,
        InsightPayload::Health(_) => 7,
    }
}
