//! The `= Update Health =` section: health insights sorted as `oc` sorts them, as a table or, with
//! `--details=health`, as one block per insight.

use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{HealthInsight, ImpactLevel, ImpactType, ResourceRef};

use super::duration::short_duration;
use super::sort;
use super::tabwriter::TabWriter;
use crate::builtin::is_builtin_name;

/// `oc` prints this when an alert has no `runbook_url`, the only source without a reference.
const NO_RUNBOOK: &str = "<alert does not have a runbook_url annotation>";

/// The width `oc` pads the detail labels to: `len("Description: ")`.
const LABEL_WIDTH: usize = 13;

/// One insight as `oc`'s `updateInsight`, borrowed from the object.
#[derive(Clone, Debug)]
struct Row<'a> {
    started_at: Option<Timestamp>,
    level: ImpactLevel,
    impact: ImpactType,
    summary: &'a str,
    description: &'a str,
    reference: &'a str,
    resources: &'a [ResourceRef],
    /// The informer that said it, when that is not one of the controller's own: a third
    /// party's insight must not pass for the platform's.
    reported_by: Option<&'a str>,
}

impl<'a> Row<'a> {
    fn new(informer: &'a str, h: &'a HealthInsight) -> Self {
        Self {
            reported_by: (!is_builtin_name(informer)).then_some(informer),
            started_at: h.started_at,
            level: h.impact.level,
            impact: h.impact.type_,
            summary: h.impact.summary.as_str(),
            description: h.impact.description.as_ref().map_or("", |d| d.as_str()),
            reference: h
                .remediation
                .reference
                .as_ref()
                .map_or(NO_RUNBOOK, |r| r.as_str()),
            resources: &h.scope.resources,
        }
    }
}

/// `oc`'s level order: Critical > Error > Warning > Info; Unknown (which `oc` never makes) lowest.
fn level_rank(level: ImpactLevel) -> i8 {
    match level {
        ImpactLevel::Unknown => -1,
        ImpactLevel::Info => 0,
        ImpactLevel::Warning => 1,
        ImpactLevel::Error => 2,
        ImpactLevel::Critical => 3,
    }
}

fn level_name(level: ImpactLevel) -> &'static str {
    match level {
        ImpactLevel::Unknown => "Unknown",
        ImpactLevel::Info => "Info",
        ImpactLevel::Warning => "Warning",
        ImpactLevel::Error => "Error",
        ImpactLevel::Critical => "Critical",
    }
}

fn impact_name(impact: ImpactType) -> &'static str {
    match impact {
        ImpactType::None => "None",
        ImpactType::Unknown => "Unknown",
        ImpactType::ApiAvailability => "API Availability",
        ImpactType::ClusterCapacity => "Cluster Capacity",
        ImpactType::ApplicationAvailability => "Application Availability",
        ImpactType::ApplicationOutage => "Application Outage",
        ImpactType::DataLoss => "Data Loss",
        ImpactType::UpdateSpeed => "Update Speed",
        ImpactType::UpdateStalled => "Update Stalled",
    }
}

/// Go's `t.After(u)`, with an unknown start as the zero time (earlier than any real one).
fn after(t: Option<Timestamp>, u: Option<Timestamp>) -> bool {
    match (t, u) {
        (Some(t), Some(u)) => t > u,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `oc`'s order: `sort.Slice` newest first, then `sort.SliceStable` by level, highest first.
fn sorted<'a>(insights: &[(&'a str, &'a HealthInsight)]) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = insights.iter().map(|(i, h)| Row::new(i, h)).collect();
    sort::slice(&mut rows, |x, y| after(x.started_at, y.started_at));
    sort::slice_stable(&mut rows, |x, y| level_rank(x.level) > level_rank(y.level));
    rows
}

/// SINCE: `-` when unknown, else `shortDuration((now - start).Truncate(time.Second))`.
fn since(now: Timestamp, started_at: Option<Timestamp>) -> String {
    match started_at {
        None => "-".to_owned(),
        Some(t) => short_duration(now.since(t).truncate(GoDuration::from_secs(1))),
    }
}

/// Writes the health section. `insights` are in the contract's gathering order; `updating_for` dates
/// the default "Update is proceeding well" row; `detailed` asks for `--details=health`, which `oc`
/// ignores when only that default row is left.
pub(crate) fn write(
    out: &mut String,
    insights: &[(&str, &HealthInsight)],
    now: Timestamp,
    updating_for: GoDuration,
    detailed: bool,
) {
    out.push_str("= Update Health =\n");
    let rows = sorted(insights);
    if rows.is_empty() {
        let started = now.plus(GoDuration::from_nanos(
            updating_for.as_nanos().saturating_neg(),
        ));
        let well = Row {
            started_at: Some(started),
            level: ImpactLevel::Info,
            impact: ImpactType::None,
            summary: "Update is proceeding well",
            description: "",
            reference: "",
            resources: &[],
            reported_by: None,
        };
        write_table(out, &[well], now);
    } else if detailed {
        write_details(out, &rows, now);
    } else {
        write_table(out, &rows, now);
    }
}

fn write_table(out: &mut String, rows: &[Row<'_>], now: Timestamp) {
    let mut table = TabWriter::new();
    table.write("SINCE\tLEVEL\tIMPACT\tMESSAGE\n");
    for row in rows {
        table.write(&format!(
            "{}\t{}\t{}\t{}\n",
            since(now, row.started_at),
            level_name(row.level),
            impact_name(row.impact),
            attributed(row)
        ));
    }
    out.push_str(&table.finish());
    let only_info = rows.len() == 1 && rows.first().is_some_and(|r| r.level == ImpactLevel::Info);
    if !only_info {
        out.push_str("\nRun with --details=health for additional description and links to related online documentation\n");
    }
}

/// The table's MESSAGE: the summary, and who said it when that is a third party.
fn attributed(row: &Row<'_>) -> String {
    match row.reported_by {
        Some(informer) => format!("{} (reported by {informer})", row.summary),
        None => row.summary.to_owned(),
    }
}

/// `<resource>[.<group>]: ` as `oc` writes a kind (its lower-case kind plus "s" is the resource).
fn kind(resource: &ResourceRef) -> String {
    match resource.group.as_ref().map(|g| g.as_str()) {
        Some(group) if !group.is_empty() => format!("{}.{group}: ", resource.resource),
        _ => format!("{}: ", resource.resource),
    }
}

fn namespaced_name(resource: &ResourceRef) -> String {
    match &resource.namespace {
        Some(ns) => format!("{ns}/{}", resource.name),
        None => resource.name.as_str().to_owned(),
    }
}

/// `fmt.Sprintf("%-*s", width, text)`: pads to `width` runes.
fn pad(text: &str, width: usize) -> String {
    let runes = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(runes)))
}

fn write_details(out: &mut String, rows: &[Row<'_>], now: Timestamp) {
    for (index, row) in rows.iter().enumerate() {
        out.push_str(&format!("Message: {}\n", row.summary));
        if let Some(informer) = row.reported_by {
            out.push_str(&format!(
                "  {}{informer}\n",
                pad("Reported by:", LABEL_WIDTH)
            ));
        }
        for (label, value) in [
            ("Since:", since(now, row.started_at)),
            ("Level:", level_name(row.level).to_owned()),
            ("Impact:", impact_name(row.impact).to_owned()),
            ("Reference:", row.reference.to_owned()),
        ] {
            out.push_str(&format!("  {}{value}\n", pad(label, LABEL_WIDTH)));
        }
        if !row.resources.is_empty() {
            write_resources(out, row.resources);
        }
        // oc keeps continuation lines under the description, each starting with ", ".
        let continuation = format!("\n{}, ", " ".repeat(LABEL_WIDTH + 2));
        let description = row.description.replace('\n', &continuation);
        out.push_str(&format!(
            "  {}{description}\n",
            pad("Description:", LABEL_WIDTH)
        ));
        if index + 1 < rows.len() {
            out.push('\n');
        }
    }
}

/// `oc`'s Resources lines: one per resource's kind (a kind repeats once per resource, as in `oc`),
/// kinds sorted, each followed by all names of that kind, sorted.
fn write_resources(out: &mut String, resources: &[ResourceRef]) {
    out.push_str("  Resources:\n");
    let mut kinds: Vec<String> = resources.iter().map(kind).collect();
    let width = kinds.iter().map(String::len).max().unwrap_or(0);
    kinds.sort();
    for k in &kinds {
        let mut names: Vec<String> = resources
            .iter()
            .filter(|r| &kind(r) == k)
            .map(namespaced_name)
            .collect();
        names.sort();
        out.push_str(&format!("    {}{}\n", pad(k, width), names.join(", ")));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use update_status_api::v1alpha1::{InsightImpact, InsightRemediation, InsightScope, ScopeType};

    pub(crate) fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A health insight; `resources` are `(group, resource, namespace, name)`.
    pub(crate) fn health(
        started_at: Option<&str>,
        level: ImpactLevel,
        impact: ImpactType,
        summary: &str,
        description: &str,
        reference: Option<&str>,
        resources: &[(&str, &str, Option<&str>, &str)],
    ) -> HealthInsight {
        HealthInsight {
            started_at: started_at.map(ts),
            scope: InsightScope {
                type_: ScopeType::ControlPlane,
                pool: None,
                resources: update_status_api::constraints::BoundedVec::new(
                    resources
                        .iter()
                        .map(|(group, resource, namespace, name)| ResourceRef {
                            group: (!group.is_empty()).then(|| group.parse().unwrap()),
                            resource: resource.parse().unwrap(),
                            name: name.parse().unwrap(),
                            namespace: namespace.map(|n| n.parse().unwrap()),
                        })
                        .collect(),
                )
                .unwrap(),
            },
            impact: InsightImpact {
                level,
                type_: impact,
                summary: summary.parse().unwrap(),
                description: Some(description.parse().unwrap()),
            },
            remediation: InsightRemediation {
                reference: reference.map(|r| r.parse().unwrap()),
                estimated_finish: None,
            },
        }
    }

    const NOW: &str = "2023-11-03T18:31:02.000368975Z";
    const DEGRADED: &str = "https://github.com/openshift/runbooks/blob/master/alerts/cluster-monitoring-operator/ClusterOperatorDegraded.md";
    const DOWN: &str = "https://github.com/openshift/runbooks/blob/master/alerts/cluster-monitoring-operator/ClusterOperatorDown.md";

    fn co_degraded(name: &str, started: &str, reason: &str, description: &str) -> HealthInsight {
        health(
            Some(started),
            ImpactLevel::Error,
            ImpactType::ApiAvailability,
            &format!("Cluster Operator {name} is degraded ({reason})"),
            description,
            Some(DEGRADED),
            &[("config.openshift.io", "clusteroperators", None, name)],
        )
    }

    /// The 4.14.1-degraded case, in `oc`'s gathering order (CV failing first, then the operators).
    fn degraded_case() -> Vec<HealthInsight> {
        vec![
            health(
                Some("2023-11-03T18:31:02Z"),
                ImpactLevel::Warning,
                ImpactType::UpdateStalled,
                "Cluster Version version is failing to proceed with the update (ClusterOperatorsDegraded)",
                "Cluster operators etcd, kube-apiserver are degraded",
                Some(DEGRADED),
                &[("config.openshift.io", "clusterversions", None, "version")],
            ),
            health(
                Some("2023-11-03T17:30:45Z"),
                ImpactLevel::Error,
                ImpactType::ApiAvailability,
                "Cluster Operator control-plane-machine-set is unavailable (UnavailableReplicas)",
                "Missing 1 available replica(s)",
                Some(DOWN),
                &[(
                    "config.openshift.io",
                    "clusteroperators",
                    None,
                    "control-plane-machine-set",
                )],
            ),
            co_degraded(
                "etcd",
                "2023-11-03T17:32:24Z",
                "EtcdMembers_UnhealthyMembers",
                "first\nsecond",
            ),
            co_degraded(
                "kube-apiserver",
                "2023-11-03T17:32:44Z",
                "NodeController_MasterNodesReady",
                "d",
            ),
            co_degraded(
                "kube-controller-manager",
                "2023-11-03T17:32:44Z",
                "NodeController_MasterNodesReady",
                "d",
            ),
            co_degraded(
                "kube-scheduler",
                "2023-11-03T17:32:44Z",
                "NodeController_MasterNodesReady",
                "d",
            ),
        ]
    }

    #[test]
    fn table_sorts_by_level_then_newest_first() {
        let insights = degraded_case();
        let refs: Vec<(&str, &HealthInsight)> = insights.iter().map(|h| ("alerts", h)).collect();
        let mut out = String::new();
        write(&mut out, &refs, ts(NOW), GoDuration::from_secs(1), false);
        assert_eq!(
            out,
            "= Update Health =\n\
             SINCE     LEVEL     IMPACT             MESSAGE\n\
             58m18s    Error     API Availability   Cluster Operator kube-apiserver is degraded (NodeController_MasterNodesReady)\n\
             58m18s    Error     API Availability   Cluster Operator kube-controller-manager is degraded (NodeController_MasterNodesReady)\n\
             58m18s    Error     API Availability   Cluster Operator kube-scheduler is degraded (NodeController_MasterNodesReady)\n\
             58m38s    Error     API Availability   Cluster Operator etcd is degraded (EtcdMembers_UnhealthyMembers)\n\
             1h0m17s   Error     API Availability   Cluster Operator control-plane-machine-set is unavailable (UnavailableReplicas)\n\
             now       Warning   Update Stalled     Cluster Version version is failing to proceed with the update (ClusterOperatorsDegraded)\n\
             \n\
             Run with --details=health for additional description and links to related online documentation\n"
        );
    }

    /// A third party's insight says who said it, in the table and in the details; the
    /// controller's own do not (so they stay exactly as `oc` prints them).
    #[test]
    fn a_third_partys_insight_is_attributed_and_a_built_in_one_is_not() {
        let insights = degraded_case();
        let refs: Vec<(&str, &HealthInsight)> = vec![
            ("example-storage-operator", &insights[0]),
            ("alerts", &insights[1]),
        ];
        let mut table = String::new();
        write(&mut table, &refs, ts(NOW), GoDuration::from_secs(1), false);
        let own = insights[1].impact.summary.as_str();
        let third = insights[0].impact.summary.as_str();
        assert!(
            table.contains(&format!("{third} (reported by example-storage-operator)")),
            "{table}"
        );
        assert!(!table.contains(&format!("{own} (reported by")), "{table}");
        let mut details = String::new();
        write(&mut details, &refs, ts(NOW), GoDuration::from_secs(1), true);
        assert_eq!(
            details
                .matches("  Reported by: example-storage-operator\n")
                .count(),
            1,
            "{details}"
        );
        assert_eq!(details.matches("Reported by:").count(), 1, "{details}");
    }

    #[test]
    fn detailed_blocks_with_resources_and_wrapped_description() {
        let insights = degraded_case();
        let refs: Vec<(&str, &HealthInsight)> = insights
            .iter()
            .skip(2)
            .take(1)
            .map(|h| ("alerts", h))
            .collect();
        let mut out = String::new();
        write(&mut out, &refs, ts(NOW), GoDuration::from_secs(1), true);
        assert_eq!(
            out,
            format!(
                "= Update Health =\n\
                 Message: Cluster Operator etcd is degraded (EtcdMembers_UnhealthyMembers)\n\
                 \x20 Since:       58m38s\n\
                 \x20 Level:       Error\n\
                 \x20 Impact:      API Availability\n\
                 \x20 Reference:   {DEGRADED}\n\
                 \x20 Resources:\n\
                 \x20   clusteroperators.config.openshift.io: etcd\n\
                 \x20 Description: first\n\
                 \x20              , second\n"
            )
        );
    }

    #[test]
    fn alert_without_runbook_and_namespaced_resource() {
        let alert = health(
            Some("2023-11-02T18:22:08Z"),
            ImpactLevel::Warning,
            ImpactType::Unknown,
            "Alert is firing: PodDisruptionBudgetAtLimit",
            "Alert known to affect updates has been firing since before the update started. The alert has no description.",
            None,
            &[(
                "config.openshift.io",
                "alerts",
                Some("openshift-monitoring"),
                "PodDisruptionBudgetAtLimit",
            )],
        );
        let node = health(
            None,
            ImpactLevel::Error,
            ImpactType::UpdateStalled,
            "Node n is degraded",
            "bad",
            Some("https://docs.openshift.com/x"),
            &[("", "nodes", None, "n2"), ("", "nodes", None, "n1")],
        );
        let mut out = String::new();
        write(
            &mut out,
            &[("alerts", &alert), ("machine-config", &node)],
            ts(NOW),
            GoDuration::from_secs(1),
            true,
        );
        assert!(
            out.contains("  Reference:   <alert does not have a runbook_url annotation>\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "    alerts.config.openshift.io: openshift-monitoring/PodDisruptionBudgetAtLimit\n"
            ),
            "{out}"
        );
        assert!(out.contains("  Since:       24h8m54s\n"), "{out}");
        // oc prints a kind once per resource, each time with all names of that kind.
        assert!(
            out.contains("  Resources:\n    nodes: n1, n2\n    nodes: n1, n2\n"),
            "{out}"
        );
        // The Error insight comes first even though its start is unknown.
        assert!(
            out.starts_with("= Update Health =\nMessage: Node n is degraded\n  Since:       -\n"),
            "{out}"
        );
        assert!(
            out.contains("  Description: bad\n\nMessage: Alert"),
            "{out}"
        );
    }

    #[test]
    fn no_insights_means_proceeding_well_even_when_detailed() {
        let mut out = String::new();
        write(
            &mut out,
            &[],
            ts(NOW),
            GoDuration::from_secs(52 * 60 + 56),
            true,
        );
        assert_eq!(
            out,
            "= Update Health =\nSINCE    LEVEL   IMPACT   MESSAGE\n52m56s   Info    None     Update is proceeding well\n"
        );
    }

    #[test]
    fn single_warning_still_hints_at_details() {
        let paused = health(
            None,
            ImpactLevel::Warning,
            ImpactType::UpdateStalled,
            "Outdated nodes in a paused pool 'worker' will not be updated",
            "Pool is paused",
            Some("https://docs.openshift.com/x"),
            &[],
        );
        let mut out = String::new();
        write(
            &mut out,
            &[("machine-config", &paused)],
            ts(NOW),
            GoDuration::from_secs(6),
            false,
        );
        assert_eq!(
            out,
            "= Update Health =\n\
             SINCE   LEVEL     IMPACT           MESSAGE\n\
             -       Warning   Update Stalled   Outdated nodes in a paused pool 'worker' will not be updated\n\
             \n\
             Run with --details=health for additional description and links to related online documentation\n"
        );
    }
}
