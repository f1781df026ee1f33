//! The `= Control Plane =` block, read back from the ClusterVersion and ClusterOperator insights.

use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    Architecture, ClusterOperatorInsight, ClusterVersionAssessment, ClusterVersionInsight,
    ConditionStatus, UpdateState, find_condition,
};

use super::duration::short_duration;
use super::tabwriter::TabWriter;
use super::text::{go_zero_time, rfc3339, shorten_reason};
use crate::builtin::estimate::estimate_completion;

/// What `oc` prints about the control plane, derived as the contract's ClusterVersion section says.
pub(crate) struct ControlPlaneView<'a> {
    cv: &'a ClusterVersionInsight,
    operators: Vec<&'a ClusterOperatorInsight>,
    now: Timestamp,
}

impl<'a> ControlPlaneView<'a> {
    /// The view of one ClusterVersion insight and its operators (in stored order), as of `now`.
    pub(crate) fn new(
        cv: &'a ClusterVersionInsight,
        operators: Vec<&'a ClusterOperatorInsight>,
        now: Timestamp,
    ) -> Self {
        Self { cv, operators, now }
    }

    /// Whether the ClusterVersion is Progressing (the `Updating` condition is True).
    pub(crate) fn is_updating(&self) -> bool {
        find_condition(&self.cv.conditions, "Updating")
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// `oc`'s `updatingFor` for the default health insight: now − start, rounded to the second.
    pub(crate) fn updating_for(&self) -> GoDuration {
        let started = self.cv.started_at.unwrap_or_else(go_zero_time);
        self.now.since(started).round(GoDuration::from_secs(1))
    }

    /// Whether `oc` had a history item: it derives the duration and estimate only then.
    fn has_history(&self) -> bool {
        self.cv.versions.target.version.is_some()
    }

    /// `oc`'s `CompletionAt`: when the control plane finished, else now.
    fn completion_at(&self) -> Timestamp {
        if !self.has_history() {
            return go_zero_time();
        }
        self.cv.completed_at.unwrap_or(self.now)
    }

    /// `oc`'s `updatingFor` inside the control-plane assessment (zero without history).
    fn elapsed(&self) -> GoDuration {
        match (self.has_history(), self.cv.started_at) {
            (true, Some(started)) => self.completion_at().since(started),
            (true, None) => self.completion_at().since(go_zero_time()),
            (false, _) => GoDuration::from_nanos(0),
        }
    }

    /// DURATION: to the minute past ten minutes, else to the second.
    fn duration(&self) -> GoDuration {
        let elapsed = self.elapsed();
        if elapsed > GoDuration::from_mins(10) {
            elapsed.round(GoDuration::from_mins(1))
        } else {
            elapsed.round(GoDuration::from_secs(1))
        }
    }

    fn target(&self) -> &str {
        self.cv
            .versions
            .target
            .version
            .as_ref()
            .map_or("unknown", |v| v.as_str())
    }

    /// `oc`'s `versions.String()`.
    fn target_version(&self) -> String {
        let target = self.target();
        let versions = &self.cv.versions;
        match &versions.previous {
            None if versions.target.version.is_some() => format!("{target} (a new install)"),
            None => format!("{target} (from unknown)"),
            Some(previous) if previous.state == UpdateState::Partial => {
                format!("{target} (from incomplete {})", previous.version)
            }
            Some(_) if versions.target.architecture == Some(Architecture::Multi) => {
                format!("{target} to Multi-Architecture")
            }
            Some(previous) => format!("{target} (from {})", previous.version),
        }
    }

    /// `oc`'s assessment: a progressing update past its estimate is slow, and stalled ten
    /// minutes past it.
    pub(crate) fn assessment(&self) -> &'static str {
        match self.cv.assessment {
            ClusterVersionAssessment::Unknown => "Unknown",
            ClusterVersionAssessment::Completed => "Completed",
            ClusterVersionAssessment::Progressing => match self.eta() {
                Some(eta) if eta < GoDuration::from_mins(-10) => "Stalled",
                Some(eta) if eta < GoDuration::default() => "Progressing - Slow",
                _ => "Progressing",
            },
        }
    }

    /// `oc`'s estimate of the time left (`estimateCompletion`), as of now, from the inputs the
    /// object stores; `None` when the update is complete or its share done is unknown.
    pub(crate) fn eta(&self) -> Option<GoDuration> {
        if self.cv.assessment == ClusterVersionAssessment::Completed {
            return None;
        }
        let counts = self.cv.operators;
        let co_completion = if counts.total.get() == 0 {
            f64::NAN
        } else {
            f64::from(counts.updated.get()) / f64::from(counts.total.get())
        };
        if co_completion.is_nan() || co_completion > 1.0 {
            return None;
        }
        let to_last_observed_progress = if self.has_history() {
            let started = self.cv.started_at.unwrap_or_else(go_zero_time);
            let last = match self.cv.last_observed_progress_at {
                Some(t) if t > started => t,
                _ => self.now,
            };
            last.since(started)
        } else {
            GoDuration::default()
        };
        Some(estimate_completion(
            GoDuration::from_secs(self.cv.expected_duration_seconds.get()),
            to_last_observed_progress,
            self.elapsed(),
            co_completion,
        ))
    }

    /// The operators whose `Updating` condition has `status`, and `reason` when given.
    fn operators_with(
        &self,
        status: ConditionStatus,
        reason: Option<&str>,
    ) -> Vec<&'a ClusterOperatorInsight> {
        self.operators
            .iter()
            .copied()
            .filter(|co| {
                find_condition(&co.conditions, "Updating").is_some_and(|c| {
                    c.status == status && reason.is_none_or(|r| c.reason.as_str() == r)
                })
            })
            .collect()
    }

    fn healthy_false_with(&self, reason: &str) -> usize {
        self.operators
            .iter()
            .filter(|co| {
                find_condition(&co.conditions, "Healthy").is_some_and(|c| {
                    c.status == ConditionStatus::False && c.reason.as_str() == reason
                })
            })
            .count()
    }

    /// `oc`'s `operators.StatusSummary()`.
    fn operator_health(&self) -> String {
        let unavailable = self.healthy_false_with("Unavailable");
        let degraded = self.healthy_false_with("Degraded");
        let healthy = self.operators.len() as i64 - unavailable as i64 - degraded as i64;
        let mut parts = vec![format!("{healthy} Healthy")];
        if unavailable > 0 {
            parts.push(format!("{unavailable} Unavailable"));
        }
        if degraded > 0 {
            parts.push(format!("{degraded} Available but degraded"));
        }
        parts.join(", ")
    }

    /// ` (Est. Time Remaining: …)`, or nothing when `oc`'s estimate is zero.
    fn estimate(&self) -> String {
        let remaining = match self.eta() {
            Some(eta) if eta.as_nanos() != 0 => eta,
            _ => return String::new(),
        };
        // oc's EstDuration is `updatingFor + ETA`, and updatingFor ends at CompletionAt: the
        // history's completion time when the control plane finished its item but some operator
        // is still not updated, else now.
        let estimated_total = if self.has_history() {
            GoDuration::from_nanos(
                self.elapsed()
                    .as_nanos()
                    .saturating_add(remaining.as_nanos()),
            )
        } else {
            remaining
        };
        let total = estimated_total.truncate(GoDuration::from_mins(1));
        format!(
            " (Est. Time Remaining: {})",
            self.vague_under(remaining, total)
        )
    }

    /// `oc`'s `vagueUnder`.
    fn vague_under(&self, remaining: GoDuration, total: GoDuration) -> String {
        let multi_arch =
            self.cv.versions.target.architecture == Some(Architecture::Multi) && self.is_updating();
        let threshold = GoDuration::from_mins(10);
        if multi_arch {
            "N/A for Multi-Architecture Migration".to_owned()
        } else if remaining < GoDuration::from_mins(-10) {
            format!("N/A; estimate duration was {}", short_duration(total))
        } else if remaining < threshold {
            format!("<{}", short_duration(threshold))
        } else {
            // oc rounds its estimate (to the minute above ten minutes); an object rendered later
            // than it was computed must read the same way.
            short_duration(remaining.round(GoDuration::from_mins(1)))
        }
    }

    /// Writes the block, with the "Updating Cluster Operators" table when `operators` details are on.
    pub(crate) fn write(&self, out: &mut String, detailed: bool) {
        if self.cv.assessment == ClusterVersionAssessment::Completed {
            out.push_str(&format!(
                "= Control Plane =\nUpdate to {} successfully completed at {} (duration: {})\n",
                self.target(),
                rfc3339(self.completion_at()),
                short_duration(self.duration())
            ));
            return;
        }
        let updating = self.operators_with(ConditionStatus::True, None);
        let updated = self
            .operators_with(ConditionStatus::False, Some("Updated"))
            .len();
        let waiting = self
            .operators_with(ConditionStatus::False, Some("Pending"))
            .len();
        out.push_str("= Control Plane =\n");
        out.push_str(&format!("Assessment:      {}\n", self.assessment()));
        out.push_str(&format!("Target Version:  {}\n", self.target_version()));
        if !updating.is_empty() {
            let names: Vec<&str> = updating.iter().map(|co| co.name.as_str()).collect();
            out.push_str(&format!("Updating:        {}\n", names.join(", ")));
        }
        out.push_str(&format!(
            "Completion:      {}% ({updated} operators updated, {} updating, {waiting} waiting)\n",
            self.cv.completion.get(),
            updating.len()
        ));
        out.push_str(&format!(
            "Duration:        {}{}\n",
            short_duration(self.duration()),
            self.estimate()
        ));
        out.push_str(&format!("Operator Health: {}\n", self.operator_health()));
        if detailed && !updating.is_empty() {
            self.write_updating_operators(out, &updating);
        }
    }

    /// The NAME/SINCE/REASON/MESSAGE table of updating operators.
    fn write_updating_operators(&self, out: &mut String, updating: &[&ClusterOperatorInsight]) {
        out.push_str("\nUpdating Cluster Operators");
        let mut table = TabWriter::new();
        table.write("\nNAME\tSINCE\tREASON\tMESSAGE\n");
        for co in updating {
            let Some(condition) = find_condition(&co.conditions, "Updating") else {
                continue;
            };
            let reason = match condition.reason.as_str() {
                "" => "-".to_owned(),
                reason => shorten_reason(reason),
            };
            let since = short_duration(self.now.since(condition.last_transition_time));
            for (index, line) in condition.message.as_str().split('\n').enumerate() {
                if index == 0 {
                    table.write(&format!("{}\t{since}\t{reason}\t", co.name));
                } else {
                    table.write("\t\t\t");
                }
                table.write(line);
                table.write("\n");
            }
        }
        out.push_str(&table.finish());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use update_status_api::v1alpha1::{
        Condition, Conditions, ControlPlaneVersions, NodeCount, OperatorCounts, Percent,
        PreviousVersion, ResourceRef, Seconds, TargetVersion,
    };

    pub(crate) fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    pub(crate) fn cv(
        updating: ConditionStatus,
        assessment: ClusterVersionAssessment,
        target: Option<&str>,
        previous: Option<(&str, bool)>,
        completion: i32,
    ) -> ClusterVersionInsight {
        let t = ts("2023-11-03T16:31:03Z");
        ClusterVersionInsight {
            name: "version".parse().unwrap(),
            resource: ResourceRef {
                group: Some("config.openshift.io".parse().unwrap()),
                resource: "clusterversions".parse().unwrap(),
                name: "version".parse().unwrap(),
                namespace: None,
            },
            conditions: Conditions::new(vec![
                Condition::new("Updating", updating, t, "ClusterVersionProgressing", "").unwrap(),
            ])
            .unwrap(),
            assessment,
            versions: ControlPlaneVersions {
                target: TargetVersion {
                    version: target.map(|v| v.parse().unwrap()),
                    architecture: None,
                },
                previous: previous.map(|(v, partial)| PreviousVersion {
                    version: v.parse().unwrap(),
                    state: if partial {
                        UpdateState::Partial
                    } else {
                        UpdateState::Completed
                    },
                }),
            },
            completion: Percent::new(completion).unwrap(),
            started_at: Some(t),
            completed_at: None,
            operators: OperatorCounts::default(),
            last_observed_progress_at: None,
            expected_duration_seconds: Seconds::new(3600).unwrap(),
        }
    }

    /// Sets the estimate's inputs so that, as of `now`, `oc`'s estimate is `eta`: nothing
    /// updated yet, so the estimate is the baseline less the time elapsed, times 1.2 (or divided
    /// by 1.2 when late).
    pub(crate) fn with_estimate(
        version: &mut ClusterVersionInsight,
        now: Timestamp,
        estimated: Timestamp,
    ) {
        let eta = estimated.since(now);
        let eta = if eta > GoDuration::from_mins(10) {
            eta.round(GoDuration::from_mins(1))
        } else {
            eta.round(GoDuration::from_secs(1))
        };
        version.operators = OperatorCounts {
            updated: NodeCount::new(0).unwrap(),
            total: NodeCount::new(1).unwrap(),
        };
        version.last_observed_progress_at = None;
        let started = version.started_at.unwrap();
        let end = version.completed_at.unwrap_or(now);
        let elapsed = end.since(started).as_nanos() / GoDuration::SECOND;
        let eta = eta.as_nanos() / GoDuration::SECOND;
        let remaining = if eta >= 0 { eta * 5 / 6 } else { eta * 6 / 5 };
        version.expected_duration_seconds = Seconds::new(elapsed + remaining).unwrap();
        let view = ControlPlaneView::new(version, vec![], now);
        assert_eq!(
            view.eta(),
            Some(GoDuration::from_secs(eta)),
            "inputs for {eta}s"
        );
    }

    /// A ClusterOperator insight with `Updating` and `Healthy` conditions.
    pub(crate) fn co(
        name: &str,
        updating: (ConditionStatus, &str, &str, &str),
        healthy: (ConditionStatus, &str),
    ) -> ClusterOperatorInsight {
        let (status, reason, message, ltt) = updating;
        ClusterOperatorInsight {
            name: name.parse().unwrap(),
            resource: ResourceRef {
                group: Some("config.openshift.io".parse().unwrap()),
                resource: "clusteroperators".parse().unwrap(),
                name: name.parse().unwrap(),
                namespace: None,
            },
            conditions: Conditions::new(vec![
                Condition::new("Updating", status, ts(ltt), reason, message).unwrap(),
                Condition::new("Healthy", healthy.0, ts(ltt), healthy.1, "").unwrap(),
            ])
            .unwrap(),
        }
    }

    use ConditionStatus::{False, True};

    const NOW: &str = "2023-11-03T16:32:32.000368975Z";

    /// 4.15.0-ec2-early: two updating operators (one for exactly the sub-second quirk), 30 waiting.
    fn early() -> (ClusterVersionInsight, Vec<ClusterOperatorInsight>) {
        let mut version = cv(
            True,
            ClusterVersionAssessment::Progressing,
            Some("4.15.0-ec.2"),
            Some(("4.14.1", true)),
            3,
        );
        version.started_at = Some(ts("2023-11-03T16:31:03Z"));
        with_estimate(&mut version, ts(NOW), ts("2023-11-03T17:57:32.000368975Z"));
        let mut operators = vec![
            co(
                "etcd",
                (
                    True,
                    "NodeInstaller",
                    "NodeInstallerProgressing: 2 nodes are at revision 33; 1 nodes are at revision 34",
                    "2023-11-03T16:31:47Z",
                ),
                (True, "AsExpected"),
            ),
            co(
                "kube-apiserver",
                (
                    True,
                    "NodeInstaller",
                    "NodeInstallerProgressing: 3 nodes are at revision 274; 0 nodes have achieved new revision 276",
                    "2023-11-03T16:32:32Z",
                ),
                (True, "AsExpected"),
            ),
            co(
                "authentication",
                (False, "Updated", "", "2023-11-03T16:00:00Z"),
                (True, "AsExpected"),
            ),
        ];
        for i in 0..30 {
            operators.push(co(
                &format!("op-{i}"),
                (False, "Pending", "", "2023-11-03T16:00:00Z"),
                (True, "AsExpected"),
            ));
        }
        (version, operators)
    }

    #[test]
    fn progressing_block_matches_oc_detailed() {
        let (version, operators) = early();
        let view = ControlPlaneView::new(&version, operators.iter().collect(), ts(NOW));
        let mut out = String::new();
        view.write(&mut out, true);
        assert_eq!(
            out,
            "= Control Plane =\n\
             Assessment:      Progressing\n\
             Target Version:  4.15.0-ec.2 (from incomplete 4.14.1)\n\
             Updating:        etcd, kube-apiserver\n\
             Completion:      3% (1 operators updated, 2 updating, 30 waiting)\n\
             Duration:        1m29s (Est. Time Remaining: 1h25m)\n\
             Operator Health: 33 Healthy\n\
             \n\
             Updating Cluster Operators\n\
             NAME             SINCE   REASON          MESSAGE\n\
             etcd             45s     NodeInstaller   NodeInstallerProgressing: 2 nodes are at revision 33; 1 nodes are at revision 34\n\
             kube-apiserver   6m8s    NodeInstaller   NodeInstallerProgressing: 3 nodes are at revision 274; 0 nodes have achieved new revision 276\n"
        );
        let mut plain = String::new();
        view.write(&mut plain, false);
        assert!(!plain.contains("Updating Cluster Operators"));
        assert_eq!(view.updating_for(), GoDuration::from_secs(89));
    }

    #[test]
    fn stalled_and_slow_estimates() {
        let now = ts("2023-11-03T18:30:00Z");
        let mut version = cv(
            True,
            ClusterVersionAssessment::Progressing,
            Some("4.14.1"),
            Some(("4.14.0-rc.3", false)),
            97,
        );
        version.started_at = Some(ts("2023-11-03T16:31:00Z"));
        // ETA -35m: started 1h59m ago, estimated total 1h24m.
        with_estimate(&mut version, now, ts("2023-11-03T17:55:00Z"));
        let operators = [
            co(
                "machine-config",
                (True, "", "Working towards 4.14.1", "2023-11-03T17:25:19Z"),
                (False, "Unavailable"),
            ),
            co(
                "etcd",
                (False, "Updated", "", "2023-11-03T17:00:00Z"),
                (False, "Degraded"),
            ),
        ];
        let view = ControlPlaneView::new(&version, operators.iter().collect(), now);
        let mut out = String::new();
        view.write(&mut out, true);
        assert!(out.contains("Assessment:      Stalled\n"), "{out}");
        assert!(
            out.contains("Target Version:  4.14.1 (from 4.14.0-rc.3)\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "Duration:        1h59m (Est. Time Remaining: N/A; estimate duration was 1h24m)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("Operator Health: 0 Healthy, 1 Unavailable, 1 Available but degraded\n"),
            "{out}"
        );
        assert!(
            out.contains("machine-config   1h4m41s   -        Working towards 4.14.1\n"),
            "{out}"
        );

        with_estimate(&mut version, now, ts("2023-11-03T18:29:00Z"));
        let view = ControlPlaneView::new(&version, operators.iter().collect(), now);
        let mut out = String::new();
        view.write(&mut out, false);
        assert!(
            out.contains("Assessment:      Progressing - Slow\n"),
            "{out}"
        );
        assert!(out.contains("(Est. Time Remaining: <10m)"), "{out}");
    }

    #[test]
    fn completed_control_plane_is_one_line() {
        let mut version = cv(
            False,
            ClusterVersionAssessment::Completed,
            Some("4.16.0-ec.3"),
            Some(("4.16.0-ec.2", false)),
            100,
        );
        version.started_at = Some(ts("2024-02-27T12:12:27Z"));
        version.completed_at = Some(ts("2024-02-27T15:42:58Z"));
        let view =
            ControlPlaneView::new(&version, Vec::new(), ts("2024-02-27T16:16:13.000368975Z"));
        let mut out = String::new();
        view.write(&mut out, true);
        assert_eq!(
            out,
            "= Control Plane =\nUpdate to 4.16.0-ec.3 successfully completed at 2024-02-27T15:42:58Z (duration: 3h31m)\n"
        );
    }

    /// Found by the differential test (seed 184): the history item completed, an operator is
    /// still not updated, and the ETA is far negative. oc's estimate duration is the time to the
    /// completion plus the ETA, not the time to now plus the ETA.
    #[test]
    fn stalled_estimate_duration_ends_at_the_completion_time() {
        let mut version = cv(
            False,
            ClusterVersionAssessment::Progressing,
            Some("4.16.0-ec.3"),
            Some(("4.16.0-ec.2", false)),
            50,
        );
        version.started_at = Some(ts("2024-02-27T12:00:00Z"));
        version.completed_at = Some(ts("2024-02-27T14:00:00Z"));
        let now = ts("2024-02-27T14:20:00.000368975Z");
        // ETA -20m: the estimate duration is 2h - 20m, truncated to the minute.
        with_estimate(&mut version, now, ts("2024-02-27T14:00:00.000368975Z"));
        let view = ControlPlaneView::new(&version, Vec::new(), now);
        let mut out = String::new();
        view.write(&mut out, false);
        assert!(
            out.contains(
                "Duration:        2h (Est. Time Remaining: N/A; estimate duration was 1h40m)\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn target_version_forms() {
        let now = ts(NOW);
        let render =
            |v: &ClusterVersionInsight| ControlPlaneView::new(v, Vec::new(), now).target_version();
        let mut v = cv(
            True,
            ClusterVersionAssessment::Progressing,
            Some("4.14.1"),
            None,
            0,
        );
        assert_eq!(render(&v), "4.14.1 (a new install)");
        v.versions.previous = Some(PreviousVersion {
            version: "4.14.1".parse().unwrap(),
            state: UpdateState::Completed,
        });
        v.versions.target.architecture = Some(Architecture::Multi);
        assert_eq!(render(&v), "4.14.1 to Multi-Architecture");
        v.versions.target.version = None;
        v.versions.previous = None;
        assert_eq!(render(&v), "unknown (from unknown)");
    }

    #[test]
    fn multi_arch_migration_has_no_estimate_and_long_messages_wrap() {
        let now = ts(NOW);
        let mut v = cv(
            True,
            ClusterVersionAssessment::Progressing,
            Some("4.18.0-ec.3"),
            Some(("4.18.0-ec.3", false)),
            97,
        );
        v.versions.target.architecture = Some(Architecture::Multi);
        with_estimate(&mut v, ts(NOW), ts("2023-11-03T17:32:32.000368975Z"));
        let operators = [co(
            "image-registry",
            (
                True,
                "DeploymentNotCompleted::NodeCADaemonUnavailable",
                "first line\nsecond line",
                "2023-11-03T16:32:26Z",
            ),
            (True, "AsExpected"),
        )];
        let view = ControlPlaneView::new(&v, operators.iter().collect(), now);
        let mut out = String::new();
        view.write(&mut out, true);
        assert!(
            out.contains("(Est. Time Remaining: N/A for Multi-Architecture Migration)"),
            "{out}"
        );
        assert!(
            out.contains("image-registry   6s      DeploymentNotComp...   first line\n"),
            "{out}"
        );
        let last = out.lines().last().unwrap();
        assert_eq!(last.trim_start(), "second line");
        assert_eq!(
            last.len() - "second line".len(),
            "image-registry   6s      DeploymentNotComp...   ".len()
        );
    }
}
