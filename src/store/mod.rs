//! The one store every informer goes through, built-in or remote: insights keyed by
//! (informer, uid), full-state replacement per report, and the publishable `UpgradeStatus`
//! status built from it (routing in `routing`, the size budget — counted as etcd stores the
//! object, managedFields included — in `budget`).

mod budget;
mod routing;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    InformerName, InformerSource, InformerState, Insight, InsightPayload, InsightType,
    NodeProgressInsightStatus, OmittedInsights, UpgradeStatusStatus,
};
use update_status_api::wire::ReportedInsight;

pub use budget::DEFAULT_BUDGET_BYTES;

/// The size of the `UpgradeStatus` holding `status` as etcd stores it: the status as JSON (as
/// the API server encodes it), the managedFields entry server-side apply records for it, and the
/// object's other metadata. This, not the JSON sent, is what etcd's request limit applies to; the
/// publisher uses it to say how large a refused write was.
pub fn stored_bytes(status: &UpgradeStatusStatus) -> usize {
    budget::stored_len(status)
}

/// What one informer currently holds.
#[derive(Debug, Clone, Default, PartialEq)]
struct InformerEntry {
    builtin: bool,
    state: Option<InformerState>,
    insights: Vec<Insight>,
    last_report: Option<Timestamp>,
    /// Insights refused from the last report.
    rejected: usize,
}

/// What replacing an informer's insights did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceOutcome {
    /// Insights now held for the informer.
    pub held: usize,
    /// Insights held before and absent from the new set.
    pub removed: usize,
    /// Whether anything the store holds changed (a repeated report changes nothing).
    pub changed: bool,
}

/// One informer's reporting, as its UpdateInformer status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSummary {
    /// Reporting, stale, never reported, or disabled.
    pub state: InformerState,
    /// When it last reported.
    pub last_report: Option<Timestamp>,
    /// Insights held from its last report.
    pub held: usize,
    /// Insights refused from its last report.
    pub rejected: usize,
}

/// Insights of every informer, in the order each informer reported them.
#[derive(Debug, Clone, Default)]
pub struct Store {
    informers: BTreeMap<InformerName, InformerEntry>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything `informer` holds with `insights` (a report is the complete current
    /// set). Content that did not change keeps its `acquiredAt`, so a repeated report is a no-op.
    pub fn replace(
        &mut self,
        informer: &InformerName,
        builtin: bool,
        insights: Vec<ReportedInsight>,
        now: Timestamp,
    ) -> ReplaceOutcome {
        // Looked up before inserting, so an informer already held costs no copy of its name.
        let entry = match self.informers.get_mut(informer) {
            Some(entry) => entry,
            None => self.informers.entry(informer.clone()).or_default(),
        };
        let previous: BTreeMap<&str, &Insight> =
            entry.insights.iter().map(|i| (i.uid.as_str(), i)).collect();
        let next: Vec<Insight> = insights
            .into_iter()
            .map(|mut r| {
                // A built-in informer stamps conditions without a source time "now"; what the
                // store holds (after a restart: what was published) keeps its transition time
                // while the status holds, so an unchanged fact is not rewritten.
                if builtin && let Some(old) = previous.get(r.uid.as_str()) {
                    r.insight.keep_transition_times(&old.insight);
                }
                let acquired_at = match previous.get(r.uid.as_str()) {
                    Some(old) if old.insight == r.insight => old.acquired_at,
                    _ => now,
                };
                Insight {
                    uid: r.uid,
                    acquired_at,
                    insight: r.insight,
                }
            })
            .collect();
        let kept = next
            .iter()
            .filter(|i| previous.contains_key(i.uid.as_str()))
            .count();
        let removed = previous.len() - kept;
        // An informer's first report is a change even when empty: the published summary now
        // shows it reporting.
        let first = entry.last_report.is_none();
        let changed = first || next != entry.insights || entry.builtin != builtin;
        entry.insights = next;
        entry.builtin = builtin;
        entry.last_report = Some(now);
        ReplaceOutcome {
            held: entry.insights.len(),
            removed,
            changed,
        }
    }

    /// Starts from a published status and node objects (a restart, or a new leader): every
    /// informer the status lists gets back the insights it had there and in the node objects,
    /// with their `acquiredAt`, its last report time and whether it is built in. Insights the
    /// budget had left out are not in the object, and come back when their informer next
    /// reports. Informers the store already holds keep what they hold, with the published
    /// transition times and `acquiredAt` of every fact that did not change. Only informers
    /// `adopt` accepts come back (built-in ones, and those still registered and enabled), and
    /// only a built-in name is taken as built in: what the object says is not evidence.
    pub fn resume(
        &mut self,
        published: &UpgradeStatusStatus,
        nodes: &BTreeMap<String, NodeProgressInsightStatus>,
        adopt: impl Fn(&InformerName) -> bool,
    ) {
        let scopes = published
            .control_plane
            .iter()
            .flat_map(|cp| cp.informers.iter())
            .chain(
                published
                    .worker_pools
                    .iter()
                    .flat_map(|p| p.informers.iter()),
            );
        let mut insights: BTreeMap<&InformerName, Vec<Insight>> = BTreeMap::new();
        for group in scopes {
            insights
                .entry(&group.name)
                .or_default()
                .extend(group.insights.iter().cloned());
        }
        for node in nodes.values() {
            insights.entry(&node.informer).or_default().push(Insight {
                uid: node.uid.clone(),
                acquired_at: node.acquired_at,
                insight: InsightPayload::Node(node.node.clone()),
            });
        }
        for summary in published.informers.iter() {
            if !adopt(&summary.name) {
                // Unregistered (its UpdateInformer was deleted or disabled meanwhile), or never
                // registered at all: an object anyone could have written says so, nothing else.
                continue;
            }
            if let Some(entry) = self.informers.get_mut(&summary.name) {
                // Already reported since the start (a built-in informer assesses before the
                // published objects are read): what it says wins, but a fact that did not
                // change keeps the times it was published with, so it is not rewritten.
                let old: BTreeMap<&str, &Insight> = insights
                    .get(&summary.name)
                    .map(|v| v.iter().map(|i| (i.uid.as_str(), i)).collect())
                    .unwrap_or_default();
                for insight in &mut entry.insights {
                    if let Some(o) = old.get(insight.uid.as_str()) {
                        insight.insight.keep_transition_times(&o.insight);
                        if insight.insight == o.insight {
                            insight.acquired_at = o.acquired_at;
                        }
                    }
                }
                continue;
            }
            self.informers.insert(
                summary.name.clone(),
                InformerEntry {
                    builtin: summary.source == InformerSource::BuiltIn
                        && crate::builtin::is_builtin_name(summary.name.as_str()),
                    state: Some(summary.state),
                    insights: insights.remove(&summary.name).unwrap_or_default(),
                    last_report: summary.last_report_time,
                    rejected: 0,
                },
            );
        }
    }

    /// Records how many insights of `informer`'s last report were refused (its UpdateInformer
    /// shows it, and is `Degraded` while it is not zero).
    pub fn set_rejected(&mut self, informer: &InformerName, rejected: usize) {
        self.informers.entry(informer.clone()).or_default().rejected = rejected;
    }

    /// What the UpdateInformer status of `informer` shows: its state, last report time, and
    /// the insights held and refused from its last report.
    pub fn report_summary(&self, informer: &InformerName) -> Option<ReportSummary> {
        self.informers.get(informer).map(|e| ReportSummary {
            state: e.state.unwrap_or(InformerState::Reporting),
            last_report: e.last_report,
            held: e.insights.len(),
            rejected: e.rejected,
        })
    }

    /// Removes an informer and everything it held (it was unregistered or disabled).
    pub fn remove_informer(&mut self, informer: &InformerName) -> bool {
        self.informers.remove(informer).is_some()
    }

    /// Removes every remote informer `keep` refuses (its UpdateInformer is gone), with all it
    /// held; answers how many went.
    pub fn retain_remote(&mut self, keep: impl Fn(&InformerName) -> bool) -> usize {
        let before = self.informers.len();
        self.informers
            .retain(|name, entry| entry.builtin || keep(name));
        before - self.informers.len()
    }

    /// Records the state shown in the informer's summary (`Reporting` when not set).
    pub fn set_state(&mut self, informer: &InformerName, state: InformerState) -> bool {
        let entry = self.informers.entry(informer.clone()).or_default();
        let changed = entry.state != Some(state);
        entry.state = Some(state);
        changed
    }

    /// What `informer` holds, for its own read-back; never another informer's insights.
    pub fn insights(&self, informer: &InformerName) -> Option<&[Insight]> {
        self.informers.get(informer).map(|e| e.insights.as_slice())
    }

    /// When `informer` last reported (or, for a built-in one, was last evaluated).
    pub fn last_report(&self, informer: &InformerName) -> Option<Timestamp> {
        self.informers.get(informer).and_then(|e| e.last_report)
    }

    /// Whether `informer` is a built-in informer's entry.
    pub fn is_builtin(&self, informer: &InformerName) -> bool {
        self.informers.get(informer).is_some_and(|e| e.builtin)
    }

    /// The informers the store knows, in name order.
    pub fn informer_names(&self) -> impl Iterator<Item = &InformerName> {
        self.informers.keys()
    }

    /// What to publish: the singleton's status — insights routed to the control plane and
    /// worker pools, summaries, and at most `budget_bytes` as etcd stores the object
    /// ([`stored_bytes`]: JSON plus managedFields; the least informative insights are left out
    /// first, and counted) — and one object per node.
    ///
    /// Node insights never go into the singleton, so its size does not grow with the cluster;
    /// each becomes the status of the NodeProgressInsight named after its node. Should two
    /// informers report the same node, the first in name order wins and the other's insight is
    /// counted as omitted in its summary.
    pub fn publication(&self, now: Timestamp, budget_bytes: usize) -> Publication {
        let mut nodes: BTreeMap<String, NodeProgressInsightStatus> = BTreeMap::new();
        let mut duplicates: BTreeMap<&InformerName, usize> = BTreeMap::new();
        let mut singleton_insights: Vec<Vec<Insight>> = Vec::with_capacity(self.informers.len());
        for (name, entry) in &self.informers {
            let mut others = Vec::new();
            for insight in &entry.insights {
                let InsightPayload::Node(node) = &insight.insight else {
                    others.push(insight.clone());
                    continue;
                };
                match nodes.entry(node.name.as_str().to_owned()) {
                    Entry::Occupied(_) => *duplicates.entry(name).or_default() += 1,
                    Entry::Vacant(slot) => {
                        slot.insert(NodeProgressInsightStatus {
                            informer: name.clone(),
                            uid: insight.uid.clone(),
                            acquired_at: insight.acquired_at,
                            node: node.clone(),
                        });
                    }
                }
            }
            singleton_insights.push(others);
        }
        let view: Vec<routing::InformerView<'_>> = self
            .informers
            .iter()
            .zip(&singleton_insights)
            .map(|((name, e), insights)| routing::InformerView {
                name,
                builtin: e.builtin,
                state: e.state.unwrap_or(InformerState::Reporting),
                last_report: e.last_report,
                insights,
                held: e.insights.len(),
            })
            .collect();
        let mut status = budget::fit(&view, now, budget_bytes);
        if !duplicates.is_empty() {
            let summaries: Vec<_> = std::mem::take(&mut status.informers)
                .into_vec()
                .into_iter()
                .map(|mut summary| {
                    if let Some(&count) = duplicates.get(&summary.name) {
                        let mut omitted = std::mem::take(&mut summary.omitted).into_vec();
                        omitted.push(OmittedInsights {
                            type_: InsightType::Node,
                            count: routing::count(count),
                        });
                        summary.omitted = BoundedVec::new(omitted).unwrap_or_default();
                    }
                    summary
                })
                .collect();
            status.informers = BoundedVec::new(summaries).unwrap_or_default();
        }
        Publication { status, nodes }
    }

    /// The singleton's status alone (see [`Store::publication`]).
    pub fn status(&self, now: Timestamp, budget_bytes: usize) -> UpgradeStatusStatus {
        self.publication(now, budget_bytes).status
    }
}

/// What the publisher writes: the status of `UpgradeStatus/cluster`, and the status of each
/// node's `NodeProgressInsight`, by node name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publication {
    /// The singleton's status.
    pub status: UpgradeStatusStatus,
    /// One status per node, keyed by node (and object) name.
    pub nodes: BTreeMap<String, NodeProgressInsightStatus>,
}

#[cfg(test)]
mod tests;
