//! Machine config pools: the WORKER POOL table and each pool's node table.

use update_status_api::v1alpha1::{
    MachineConfigPoolInsight, NodeInsight, NodeSummaryType, PoolAssessment,
};

use super::nodes::{NodeRow, Phase};
use super::sort;
use super::tabwriter::TabWriter;
use super::text::percent;

/// Rows past this index are hidden without `--details=nodes`, unless they are bad.
const SHOWN_ROWS: usize = 10;

/// A pool's node counters, as `oc`'s `nodesOverviewDisplayData`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Overview {
    pub(crate) total: i64,
    pub(crate) available: i64,
    pub(crate) progressing: i64,
    pub(crate) outdated: i64,
    pub(crate) draining: i64,
    pub(crate) excluded: i64,
    pub(crate) degraded: i64,
}

/// One pool as `oc` displays it.
#[derive(Clone, Debug)]
pub(crate) struct PoolView {
    pub(crate) name: String,
    /// The control-plane pool prints "Control Plane Nodes" instead of a worker pool title.
    pub(crate) control_plane: bool,
    assessment: String,
    completion: String,
    overview: Overview,
    /// Sorted as `oc` sorts them.
    pub(crate) nodes: Vec<NodeRow>,
}

impl PoolView {
    /// Reads a pool from its MachineConfigPool insight; without one (or without its counters), counts
    /// the node insights as `oc`'s `assessMachineConfigPool` does.
    pub(crate) fn build(
        name: &str,
        control_plane: bool,
        mcp: Option<&MachineConfigPoolInsight>,
        nodes: &[&NodeInsight],
    ) -> Self {
        let mut rows: Vec<NodeRow> = nodes.iter().map(|n| NodeRow::from_insight(n)).collect();
        sort::slice(&mut rows, NodeRow::less);
        let counted = count(&rows);
        let (overview, assessment, completion) = match mcp {
            Some(mcp) if !mcp.summaries.is_empty() => {
                let overview = from_summaries(mcp);
                let completion = match mcp.completion {
                    Some(c) => c.get().to_string(),
                    None => percent(overview.total - overview.outdated, overview.total),
                };
                (overview, pool_assessment(mcp.assessment), completion)
            }
            _ => counted,
        };
        Self {
            name: name.to_owned(),
            control_plane,
            assessment,
            completion,
            overview,
            nodes: rows,
        }
    }

    /// `oc`'s `Completion == 100`: every node of a non-empty pool is in phase Updated.
    pub(crate) fn is_complete(&self) -> bool {
        self.overview.total > 0 && self.overview.outdated == 0
    }

    /// Whether the pool has nodes left to update (`oc`'s `isWorkerPoolOutdated` for one pool).
    pub(crate) fn is_outdated(&self) -> bool {
        self.overview.total > 0 && !self.is_complete()
    }

    /// Whether the pool has nodes at all (`oc` shows the worker section only if some pool has).
    pub(crate) fn has_nodes(&self) -> bool {
        self.overview.total > 0 || !self.nodes.is_empty()
    }

    /// The pool's row in the WORKER POOL table.
    fn table_line(&self) -> String {
        let o = &self.overview;
        if o.total == 0 {
            return format!("{}\tEmpty\t\t{} Total\n", self.name, o.total);
        }
        let mut status = format!(
            "{} Available, {} Progressing, {} Draining",
            o.available, o.progressing, o.draining
        );
        // oc iterates a Go map here, so its order is random; Excluded first is one of its two orders.
        for (count, what) in [(o.excluded, "Excluded"), (o.degraded, "Degraded")] {
            if count > 0 {
                status.push_str(&format!(", {count} {what}"));
            }
        }
        format!(
            "{}\t{}\t{}% ({}/{})\t{}\n",
            self.name,
            self.assessment,
            self.completion,
            o.total - o.outdated,
            o.total,
            status
        )
    }

    /// `oc`'s `WriteNodes`: the pool's node table, or the one-line summary of a finished control plane.
    pub(crate) fn write_nodes(&self, out: &mut String, detailed: bool) {
        let Some(first) = self.nodes.first() else {
            return;
        };
        if self.control_plane {
            if self.is_complete() {
                out.push_str(&format!(
                    "\nAll control plane nodes successfully updated to {}\n",
                    first.version
                ));
                return;
            }
            out.push_str("\nControl Plane Nodes");
        } else {
            out.push_str(&format!("\nWorker Pool Nodes: {}", self.name));
        }
        let mut table = TabWriter::new();
        table.write("\nNAME\tASSESSMENT\tPHASE\tVERSION\tEST\tMESSAGE\n");
        let mut omitted = Omitted::default();
        for (index, node) in self.nodes.iter().enumerate() {
            if !detailed && index >= SHOWN_ROWS && !node.is_bad() {
                omitted.add(node);
                continue;
            }
            table.write(&node.table_line());
        }
        out.push_str(&table.finish());
        if omitted.total > 0 {
            out.push_str(&omitted.line());
        }
    }
}

/// Writes the WORKER POOL table.
pub(crate) fn write_pools(out: &mut String, pools: &[PoolView]) {
    let mut table = TabWriter::new();
    table.write("\nWORKER POOL\tASSESSMENT\tCOMPLETION\tSTATUS\n");
    for pool in pools {
        table.write(&pool.table_line());
    }
    out.push_str(&table.finish());
}

/// The counters of the rows hidden from a node table.
#[derive(Default)]
struct Omitted {
    total: i64,
    completed: i64,
    available: i64,
    progressing: i64,
    outdated: i64,
    draining: i64,
    excluded: i64,
}

impl Omitted {
    fn add(&mut self, node: &NodeRow) {
        self.total += 1;
        if node.is_updated {
            self.completed += 1;
        } else {
            self.outdated += 1;
        }
        if !node.is_unavailable {
            self.available += 1;
        }
        if node.phase == Phase::Draining {
            self.draining += 1;
        }
        if node.phase == Phase::Paused {
            self.excluded += 1;
        }
        if node.assessment == super::nodes::Assessment::Progressing {
            self.progressing += 1;
        }
    }

    /// `oc`'s line; "0 Degraded" is hard-coded there, since degraded rows are never hidden.
    fn line(&self) -> String {
        format!(
            "...\nOmitted additional {} Total, {} Completed, {} Available, {} Progressing, {} Outdated, {} Draining, {} Excluded, and 0 Degraded nodes.\nPass along --details=nodes to see all information.\n",
            self.total,
            self.completed,
            self.available,
            self.progressing,
            self.outdated,
            self.draining,
            self.excluded
        )
    }
}

fn pool_assessment(a: PoolAssessment) -> String {
    match a {
        PoolAssessment::Pending => "Pending",
        PoolAssessment::Completed => "Completed",
        PoolAssessment::Degraded => "Degraded",
        PoolAssessment::Excluded => "Excluded",
        PoolAssessment::Progressing => "Progressing",
    }
    .to_owned()
}

fn from_summaries(mcp: &MachineConfigPoolInsight) -> Overview {
    let mut o = Overview::default();
    for s in mcp.summaries.iter() {
        let count = i64::from(s.count.get());
        match s.type_ {
            NodeSummaryType::Total => o.total = count,
            NodeSummaryType::Available => o.available = count,
            NodeSummaryType::Progressing => o.progressing = count,
            NodeSummaryType::Outdated => o.outdated = count,
            NodeSummaryType::Draining => o.draining = count,
            NodeSummaryType::Excluded => o.excluded = count,
            NodeSummaryType::Degraded => o.degraded = count,
        }
    }
    o
}

/// `oc`'s `assessMachineConfigPool` over the rows: counters, assessment and completion.
fn count(rows: &[NodeRow]) -> (Overview, String, String) {
    let mut o = Overview {
        total: i64::try_from(rows.len()).unwrap_or(i64::MAX),
        ..Overview::default()
    };
    let (mut updated, mut pending) = (0, 0);
    for row in rows {
        if !row.is_unavailable {
            o.available += 1;
        }
        if row.is_degraded {
            o.degraded += 1;
        }
        let progressing = i64::from(!row.is_degraded);
        match row.phase {
            Phase::Paused => {
                o.excluded += 1;
                o.outdated += 1;
            }
            Phase::Pending => {
                pending += 1;
                o.outdated += 1;
            }
            Phase::Draining => {
                o.draining += 1;
                o.outdated += 1;
                o.progressing += progressing;
            }
            Phase::Updating | Phase::Rebooting => {
                o.outdated += 1;
                o.progressing += progressing;
            }
            Phase::Updated => updated += 1,
            Phase::Todo => {}
        }
    }
    let assessment = if updated == o.total {
        "Completed"
    } else if pending == o.total {
        "Pending"
    } else if o.degraded > 0 {
        "Degraded"
    } else if o.excluded > 0 {
        "Excluded"
    } else {
        "Progressing"
    };
    let completion = percent(updated, o.total);
    (o, assessment.to_owned(), completion)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::nodes::tests::node;
    use update_status_api::time::GoDuration;
    use update_status_api::v1alpha1::{
        ConditionStatus::{False, True},
        NodeCount, NodeSummary, Percent, ResourceRef, ScopeType,
    };

    /// A MachineConfigPool insight with counters in the order Total, Available, Progressing,
    /// Outdated, Draining, Excluded, Degraded.
    pub(crate) fn mcp(
        name: &str,
        assessment: PoolAssessment,
        completion: Option<i32>,
        counts: [i32; 7],
    ) -> MachineConfigPoolInsight {
        use NodeSummaryType::*;
        let types = [
            Total,
            Available,
            Progressing,
            Outdated,
            Draining,
            Excluded,
            Degraded,
        ];
        MachineConfigPoolInsight {
            name: name.parse().unwrap(),
            resource: ResourceRef {
                group: Some("machineconfiguration.openshift.io".parse().unwrap()),
                resource: "machineconfigpools".parse().unwrap(),
                name: name.parse().unwrap(),
                namespace: None,
            },
            scope_type: if name == "master" {
                ScopeType::ControlPlane
            } else {
                ScopeType::WorkerPool
            },
            assessment,
            completion: completion.map(|c| Percent::new(c).unwrap()),
            summaries: update_status_api::constraints::BoundedVec::new(
                types
                    .iter()
                    .zip(counts)
                    .map(|(t, c)| NodeSummary {
                        type_: *t,
                        count: NodeCount::new(c).unwrap(),
                    })
                    .collect(),
            )
            .unwrap(),
            conditions: Default::default(),
        }
    }

    fn paused_worker(name: &str) -> NodeInsight {
        node(
            name,
            "worker",
            Some("4.14.0"),
            Some(GoDuration::from_nanos(0)),
            None,
            &[
                ("Updating", False, "Paused"),
                ("Available", True, "AsExpected"),
                ("Degraded", False, "AsExpected"),
            ],
        )
    }

    #[test]
    fn paused_pool_row_and_nodes_match_oc() {
        let nodes = [
            paused_worker("ip-10-0-99-40.us-east-2.compute.internal"),
            paused_worker("ip-10-0-20-162.us-east-2.compute.internal"),
            paused_worker("ip-10-0-4-159.us-east-2.compute.internal"),
        ];
        let refs: Vec<&NodeInsight> = nodes.iter().collect();
        let insight = mcp(
            "worker",
            PoolAssessment::Excluded,
            Some(0),
            [3, 3, 0, 3, 0, 3, 0],
        );
        let pool = PoolView::build("worker", false, Some(&insight), &refs);
        let mut out = String::new();
        write_pools(&mut out, std::slice::from_ref(&pool));
        pool.write_nodes(&mut out, false);
        assert_eq!(
            out,
            "\nWORKER POOL   ASSESSMENT   COMPLETION   STATUS\n\
             worker        Excluded     0% (0/3)     3 Available, 0 Progressing, 0 Draining, 3 Excluded\n\
             \nWorker Pool Nodes: worker\n\
             NAME                                        ASSESSMENT   PHASE    VERSION   EST   MESSAGE\n\
             ip-10-0-20-162.us-east-2.compute.internal   Excluded     Paused   4.14.0    -     \n\
             ip-10-0-4-159.us-east-2.compute.internal    Excluded     Paused   4.14.0    -     \n\
             ip-10-0-99-40.us-east-2.compute.internal    Excluded     Paused   4.14.0    -     \n"
        );
        assert!(pool.is_outdated());
    }

    #[test]
    fn empty_pool_row() {
        let worker = mcp(
            "worker",
            PoolAssessment::Pending,
            Some(0),
            [3, 3, 0, 3, 0, 0, 0],
        );
        let zbeast = mcp(
            "zbeast",
            PoolAssessment::Completed,
            None,
            [0, 0, 0, 0, 0, 0, 0],
        );
        let pools = [
            PoolView::build("worker", false, Some(&worker), &[]),
            PoolView::build("zbeast", false, Some(&zbeast), &[]),
        ];
        let mut out = String::new();
        write_pools(&mut out, &pools);
        assert_eq!(
            out,
            "\nWORKER POOL   ASSESSMENT   COMPLETION   STATUS\n\
             worker        Pending      0% (0/3)     3 Available, 0 Progressing, 0 Draining\n\
             zbeast        Empty                     0 Total\n"
        );
        assert!(!pools[1].has_nodes() && !pools[1].is_outdated());
    }

    #[test]
    fn finished_control_plane_pool_is_one_line() {
        let n = node(
            "m1",
            "master",
            Some("4.16.0-ec.3"),
            Some(GoDuration::from_nanos(0)),
            None,
            &[
                ("Updating", False, "Completed"),
                ("Available", True, "AsExpected"),
            ],
        );
        let insight = mcp(
            "master",
            PoolAssessment::Completed,
            Some(100),
            [1, 1, 0, 0, 0, 0, 0],
        );
        let pool = PoolView::build("master", true, Some(&insight), &[&n]);
        let mut out = String::new();
        pool.write_nodes(&mut out, false);
        assert_eq!(
            out,
            "\nAll control plane nodes successfully updated to 4.16.0-ec.3\n"
        );
    }

    fn completed(name: &str) -> NodeInsight {
        node(
            name,
            "worker",
            Some("4.16.0-ec.3"),
            Some(GoDuration::from_nanos(0)),
            None,
            &[
                ("Updating", False, "Completed"),
                ("Available", True, "AsExpected"),
            ],
        )
    }

    #[test]
    fn hides_rows_past_ten_unless_bad_and_counts_them() {
        let mut nodes: Vec<NodeInsight> = (0..12)
            .map(|i| completed(&format!("node-{i:02}")))
            .collect();
        nodes.push(node(
            "node-99",
            "worker",
            Some("4.16.0-ec.2"),
            Some(GoDuration::from_mins(10)),
            None,
            &[
                ("Updating", True, "Draining"),
                ("Available", True, "AsExpected"),
            ],
        ));
        nodes.push(node(
            "node-zz",
            "worker",
            Some("4.16.0-ec.3"),
            Some(GoDuration::from_nanos(0)),
            Some("Not ready"),
            &[
                ("Updating", False, "Completed"),
                ("Available", False, "Unavailable"),
            ],
        ));
        let refs: Vec<&NodeInsight> = nodes.iter().collect();
        let pool = PoolView::build("worker", false, None, &refs);
        let mut out = String::new();
        pool.write_nodes(&mut out, false);
        let lines: Vec<&str> = out.lines().collect();
        // Title, header, 10 rows (unavailable first, then draining, then 8 completed), the bad row is
        // never hidden, then the omitted block.
        assert_eq!(lines.len(), 2 + 1 + 10 + 3);
        assert!(lines[3].starts_with("node-zz "), "{out}");
        assert!(lines[4].starts_with("node-99 "), "{out}");
        assert!(out.ends_with(
            "...\nOmitted additional 4 Total, 4 Completed, 4 Available, 0 Progressing, 0 Outdated, 0 Draining, 0 Excluded, and 0 Degraded nodes.\nPass along --details=nodes to see all information.\n"
        ), "{out}");

        let mut all = String::new();
        pool.write_nodes(&mut all, true);
        assert_eq!(all.lines().count(), 2 + 1 + 14);
        // Without an MCP insight the pool is counted from the rows.
        assert_eq!(pool.overview.total, 14);
        assert_eq!(pool.overview.outdated, 1);
        assert_eq!(pool.overview.draining, 1);
        assert_eq!(pool.assessment, "Progressing");
    }
}
