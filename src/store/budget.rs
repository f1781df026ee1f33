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

/// Room left for what wraps the insights (informer lists, pools, summaries) when estimating.
const WRAPPER_ALLOWANCE: usize = 4096;

/// Builds the status and, when it is over `budget` bytes of JSON, leaves insights out until it fits.
///
/// Each insight's size is counted once; what to leave out is decided by arithmetic, and only the
/// final object is built and measured (again only if the estimate was short).
pub(super) fn fit(view: &[InformerView<'_>], now: Timestamp, budget: usize) -> UpgradeStatusStatus {
    let sizes: Vec<Vec<usize>> = view
        .iter()
        .map(|v| {
            v.insights
                .iter()
                .map(|x| json_size(x).saturating_add(1))
                .collect()
        })
        .collect();
    let base = json_len(&routing::build(view, &|_, _| false, Omitted::new(), now));
    let total: usize = sizes.iter().flatten().sum();
    // Least informative first; within a rank, the later an insight was reported, the sooner it
    // goes. Ranked only when something must go.
    let ranked = || {
        let mut ranked: Vec<(u8, usize, usize)> = view
            .iter()
            .enumerate()
            .flat_map(|(vi, v)| {
                v.insights
                    .iter()
                    .enumerate()
                    .map(move |(ii, x)| (rank(x), vi, ii))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
        ranked.into_iter()
    };
    let mut dropped: HashSet<(usize, usize)> = HashSet::new();
    let mut excess = (base + total + WRAPPER_ALLOWANCE).saturating_sub(budget);
    let mut candidates = (excess > 0).then(ranked);
    loop {
        // `excess` is checked before the next candidate is taken: one taken and not dropped
        // would never be offered again, and more informative insights would go in its place.
        while excess > 0 {
            let Some((_, vi, ii)) = candidates.as_mut().and_then(Iterator::next) else {
                break;
            };
            dropped.insert((vi, ii));
            let bytes = sizes.get(vi).and_then(|s| s.get(ii)).copied().unwrap_or(0);
            excess = excess.saturating_sub(bytes);
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
        let size = json_len(&status);
        if size <= budget {
            return status;
        }
        // The estimate can be short even when it said everything fits: routing copies parts of
        // some insights (a ClusterVersion's or a pool's `Updating` condition) into the object.
        let remaining = candidates.get_or_insert_with(ranked);
        if remaining.len() == 0 {
            return status;
        }
        excess = size - budget;
    }
}

/// The size of the status as JSON, which is how the API server stores custom resources.
pub(super) fn json_len(status: &UpgradeStatusStatus) -> usize {
    json_size(status)
}

/// The length of `value` as JSON, counted without building the text.
fn json_size<T: serde::Serialize>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// A writer that only counts.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
