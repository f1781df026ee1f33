//! Building health insights the way `oc` builds its `updateInsight`s, including its rule that an
//! insight without a summary or description is incomplete and never shown.

use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    HealthInsight, ImpactLevel, ImpactType, InsightImpact, InsightPayload, InsightRemediation,
    InsightScope, ResourceRef, ScopeType,
};
use update_status_api::wire::ReportedInsight;

use super::fit;
use super::ids::health_uid;

/// Where a health insight belongs: the control plane, or a pool (the `master` pool included, as
/// `oc` scopes the paused-pool insight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The control plane.
    ControlPlane,
    /// The named pool.
    Pool(&'a str),
}

/// The parts of a health insight, in `oc`'s terms.
#[derive(Clone, Debug)]
pub struct Health<'a> {
    /// The uid prefix naming the rule, such as `co-degraded`.
    pub kind: &'a str,
    /// When the condition began; `None` (or Go's zero time) prints as `-`.
    pub started_at: Option<Timestamp>,
    /// Where it belongs.
    pub scope: Scope<'a>,
    /// What it is about.
    pub resources: Vec<ResourceRef>,
    /// Severity.
    pub level: ImpactLevel,
    /// Category.
    pub impact_type: ImpactType,
    /// One line.
    pub summary: &'a str,
    /// A paragraph.
    pub description: &'a str,
    /// A link; `None` only for alerts without a runbook.
    pub reference: Option<&'a str>,
}

impl Health<'_> {
    /// The insight, or `None` when `oc` would drop it as incomplete (empty summary or description).
    pub fn build(self) -> Option<ReportedInsight> {
        if self.summary.is_empty() || self.description.is_empty() {
            return None;
        }
        let summary = fit::short_text(self.summary)?;
        let zero = crate::cluster::go_zero_time();
        let (type_, pool) = match self.scope {
            Scope::ControlPlane => (ScopeType::ControlPlane, None),
            Scope::Pool(p) => (ScopeType::WorkerPool, Some(fit::object_name(p))),
        };
        let uid = health_uid(self.kind, &self.resources, summary.as_str());
        let mut resources = self.resources;
        resources.truncate(update_status_api::v1alpha1::MAX_SCOPE_RESOURCES);
        let insight = HealthInsight {
            started_at: self.started_at.filter(|t| *t != zero),
            scope: InsightScope {
                type_,
                pool,
                resources: BoundedVec::new(resources).unwrap_or_default(),
            },
            impact: InsightImpact {
                level: self.level,
                type_: self.impact_type,
                summary,
                description: Some(fit::paragraph(self.description)),
            },
            remediation: InsightRemediation {
                reference: self.reference.and_then(fit::url),
                estimated_finish: None,
            },
        };
        Some(ReportedInsight {
            uid,
            insight: InsightPayload::Health(Box::new(insight)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health<'a>(summary: &'a str, description: &'a str) -> Health<'a> {
        Health {
            kind: "test",
            started_at: Some(crate::cluster::go_zero_time()),
            scope: Scope::Pool("master"),
            resources: vec![fit::resource_ref("", "nodes", "a", "")],
            level: ImpactLevel::Warning,
            impact_type: ImpactType::UpdateSpeed,
            summary,
            description,
            reference: Some("https://example.com/x"),
        }
    }

    #[test]
    fn incomplete_insights_are_dropped() {
        assert!(health("", "d").build().is_none());
        assert!(health("s", "").build().is_none());
    }

    #[test]
    fn zero_start_is_absent_and_pool_scope_names_the_pool() {
        let r = health("s", "d").build().unwrap();
        let InsightPayload::Health(h) = r.insight else {
            panic!("not health")
        };
        assert!(h.started_at.is_none());
        assert_eq!(h.scope.type_, ScopeType::WorkerPool);
        assert_eq!(h.scope.pool.as_deref(), Some("master"));
        assert_eq!(h.impact.description.as_deref(), Some("d"));
        assert!(r.uid.as_str().starts_with("test-"));
    }
}
