//! What one informer may say: the limits of its UpdateInformer, applied to each insight it sends.

use update_status_api::time::{GoDuration, Timestamp};
use update_status_api::v1alpha1::{
    ImpactLevel, InformerName, InsightPayload, InsightType, STATUS_INSIGHT_INFORMERS, ScopeType,
    UpdateInformerSpec,
};
use update_status_api::wire::ReportedInsight;

/// The right to report for one informer, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The informer.
    pub informer: InformerName,
    /// Most insights per report, when the UpdateInformer sets it.
    pub max_insights: Option<usize>,
    /// Scopes its insights may target.
    pub allowed_scopes: Vec<ScopeType>,
    /// Insight types it may send.
    pub allowed_types: Vec<InsightType>,
    /// The highest impact level its Health insights may claim; `None` for no limit.
    pub max_level: Option<ImpactLevel>,
    /// Whether its reference links must be plain `https://` ASCII URLs without userinfo:
    /// third parties' links are shown beside the platform's, so they may not be `http://`,
    /// look-alike (non-ASCII) or `https://docs.openshift.com@evil.example` tricks.
    pub strict_links: bool,
}

/// The level a third party may claim when its UpdateInformer does not say.
pub const THIRD_PARTY_MAX_LEVEL: ImpactLevel = ImpactLevel::Warning;

/// How far ahead of the controller's clock a reported `startedAt` may lie: producers' clocks
/// drift a little, but a start in the future would sort an insight above every other one of its
/// level for as long as it stays in the future.
pub const MAX_CLOCK_SKEW: GoDuration = GoDuration::from_mins(5);

/// Why one insight was refused by the informer's policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    /// The type is not allowed for this informer.
    #[error("informer {informer} may not send {kind} insights (allowed: {allowed})")]
    Type {
        informer: String,
        kind: &'static str,
        allowed: String,
    },
    /// The scope is not allowed for this informer.
    #[error("informer {informer} may not send insights scoped to {scope:?}")]
    Scope { informer: String, scope: ScopeType },
    /// The impact level is above what this informer may claim.
    #[error(
        "informer {informer} may not send health insights above level {max:?} (got {level:?}; its UpdateInformer's spec.maxLevel sets the limit)"
    )]
    Level {
        informer: String,
        level: ImpactLevel,
        max: ImpactLevel,
    },
    /// The reference link is not one a third party may show.
    #[error(
        "informer {informer} may only link to https:// URLs of ASCII characters without a user name or password"
    )]
    Link { informer: String },
    /// The insight says it started after the controller received it (beyond the clock skew).
    #[error(
        "informer {informer} sent a health insight that starts in the future ({started_at}, received at {now}); startedAt may be at most 5 minutes ahead of the controller's clock"
    )]
    Future {
        informer: String,
        started_at: String,
        now: String,
    },
}

impl PolicyViolation {
    /// The field of `payload` that breaks the policy, as a JSON path below the reported insight
    /// (the `field` of its rejection).
    pub fn field(&self, payload: &InsightPayload) -> &'static str {
        match (self, payload) {
            (PolicyViolation::Type { .. }, _) => "insight.type",
            (PolicyViolation::Level { .. }, _) => "insight.health.impact.level",
            (PolicyViolation::Link { .. }, _) => "insight.health.remediation.reference",
            (PolicyViolation::Future { .. }, _) => "insight.health.startedAt",
            (PolicyViolation::Scope { .. }, InsightPayload::Health(_)) => {
                "insight.health.scope.type"
            }
            (PolicyViolation::Scope { .. }, InsightPayload::Node(_)) => "insight.node.scopeType",
            (PolicyViolation::Scope { .. }, InsightPayload::MachineConfigPool(_)) => {
                "insight.machineConfigPool.scopeType"
            }
            // ClusterVersion and ClusterOperator insights are control-plane by their type.
            (PolicyViolation::Scope { .. }, _) => "insight.type",
        }
    }
}

impl Grant {
    /// The grant an UpdateInformer's spec gives. Only the owners of status insights
    /// (`cluster-version`, `machine-config`) may send them; others send Health, whatever
    /// `allowedInsightTypes` says. The CRD refuses such a spec, but the server does not rely on
    /// the admission of the objects it reads (one stored before the rule, or loaded from a file
    /// offline, would otherwise let a third party speak for nodes or the control plane).
    pub fn from_spec(informer: InformerName, spec: &UpdateInformerSpec) -> Self {
        let owns_status = STATUS_INSIGHT_INFORMERS.contains(&informer.as_str());
        let allowed_types = match &spec.allowed_insight_types {
            Some(t) => t
                .iter()
                .copied()
                .filter(|t| owns_status || !t.is_status())
                .collect(),
            None if owns_status => InsightType::ALL.to_vec(),
            None => vec![InsightType::Health],
        };
        let allowed_scopes = match &spec.allowed_scopes {
            Some(s) => s.to_vec(),
            None => vec![ScopeType::ControlPlane, ScopeType::WorkerPool],
        };
        Self {
            max_insights: spec
                .max_insights
                .and_then(|m| usize::try_from(m.get()).ok()),
            max_level: match spec.max_level {
                Some(level) => Some(level),
                None if owns_status => None,
                None => Some(THIRD_PARTY_MAX_LEVEL),
            },
            strict_links: !owns_status,
            informer,
            allowed_scopes,
            allowed_types,
        }
    }

    /// The grant of a built-in informer: everything.
    pub fn builtin(informer: InformerName) -> Self {
        Self {
            informer,
            max_insights: None,
            allowed_scopes: vec![ScopeType::ControlPlane, ScopeType::WorkerPool],
            allowed_types: InsightType::ALL.to_vec(),
            max_level: None,
            strict_links: false,
        }
    }

    /// Checks one insight against the grant.
    pub fn check(&self, insight: &ReportedInsight) -> Result<(), PolicyViolation> {
        let kind = insight.insight.insight_type();
        if !self.allowed_types.contains(&kind) {
            let allowed = self
                .allowed_types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PolicyViolation::Type {
                informer: self.informer.to_string(),
                kind: kind.as_str(),
                allowed,
            });
        }
        let scope = scope_of(&insight.insight);
        if !self.allowed_scopes.contains(&scope) {
            return Err(PolicyViolation::Scope {
                informer: self.informer.to_string(),
                scope,
            });
        }
        if let InsightPayload::Health(h) = &insight.insight {
            if let Some(max) = self.max_level
                && h.impact.level > max
            {
                return Err(PolicyViolation::Level {
                    informer: self.informer.to_string(),
                    level: h.impact.level,
                    max,
                });
            }
            let link = h.remediation.reference.as_ref().map(|u| u.as_str());
            if self.strict_links && link.is_some_and(|l| !is_plain_https(l)) {
                return Err(PolicyViolation::Link {
                    informer: self.informer.to_string(),
                });
            }
        }
        Ok(())
    }

    /// [`Grant::check`], and that a Health insight's `startedAt` is not in the future as of
    /// `now`, the moment the report was received (within [`MAX_CLOCK_SKEW`]).
    pub fn check_at(
        &self,
        insight: &ReportedInsight,
        now: Timestamp,
    ) -> Result<(), PolicyViolation> {
        self.check(insight)?;
        if let InsightPayload::Health(h) = &insight.insight
            && let Some(started_at) = h.started_at
            && started_at > now.plus(MAX_CLOCK_SKEW)
        {
            return Err(PolicyViolation::Future {
                informer: self.informer.to_string(),
                started_at: started_at.to_rfc3339_seconds(),
                now: now.to_rfc3339_seconds(),
            });
        }
        Ok(())
    }
}

/// An `https://` URL of printable ASCII whose authority (up to the first `/`, `?` or `#`) holds
/// no `@`: no user name or password to disguise the host.
fn is_plain_https(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !authority.is_empty() && !authority.contains('@') && url.bytes().all(|b| b.is_ascii_graphic())
}

/// The scope an insight targets.
pub fn scope_of(payload: &InsightPayload) -> ScopeType {
    match payload {
        InsightPayload::ClusterVersion(_) | InsightPayload::ClusterOperator(_) => {
            ScopeType::ControlPlane
        }
        InsightPayload::MachineConfigPool(p) => p.scope_type,
        InsightPayload::Node(n) => n.scope_type,
        InsightPayload::Health(h) => h.scope.type_,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_status_api::v1alpha1::UpdateInformer;

    fn spec(yaml: &str) -> UpdateInformerSpec {
        let obj: UpdateInformer = serde_saphyr::from_str(&format!(
            "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {{name: x}}\nspec:\n  reporting: Enabled\n  producers: [{{serviceAccount: {{namespace: a, name: b}}}}]\n{yaml}"
        ))
        .unwrap();
        obj.spec
    }

    fn health(scope: &str) -> ReportedInsight {
        let pool = if scope == "WorkerPool" {
            ", \"pool\": \"worker\""
        } else {
            ""
        };
        serde_json::from_str(&format!(
            r#"{{"uid": "h", "insight": {{"type": "Health", "health": {{"scope": {{"type": "{scope}"{pool}}},
            "impact": {{"level": "Info", "type": "None", "summary": "s"}}, "remediation": {{}}}}}}}}"#
        ))
        .unwrap()
    }

    fn node() -> ReportedInsight {
        serde_json::from_str(
            r#"{"uid": "node-a", "insight": {"type": "Node", "node": {"name": "a", "resource": {"resource": "nodes", "name": "a"},
            "poolResource": {"resource": "machineconfigpools", "name": "worker"}, "scopeType": "WorkerPool"}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn third_parties_send_health_only_by_default() {
        let g = Grant::from_spec(InformerName::new("storage").unwrap(), &spec(""));
        assert!(g.check(&health("ControlPlane")).is_ok());
        assert!(matches!(
            g.check(&node()),
            Err(PolicyViolation::Type { .. })
        ));
        let mco = Grant::from_spec(InformerName::new("machine-config").unwrap(), &spec(""));
        assert!(mco.check(&node()).is_ok());
    }

    #[test]
    fn scopes_and_counts_come_from_the_spec() {
        let g = Grant::from_spec(
            InformerName::new("storage").unwrap(),
            &spec("  allowedScopes: [WorkerPool]\n  maxInsights: 3\n"),
        );
        assert_eq!(g.max_insights, Some(3));
        assert!(g.check(&health("WorkerPool")).is_ok());
        assert!(matches!(
            g.check(&health("ControlPlane")),
            Err(PolicyViolation::Scope { .. })
        ));
    }

    fn health_at(level: &str, reference: Option<&str>) -> ReportedInsight {
        let mut v = serde_json::to_value(health("ControlPlane")).unwrap();
        v["insight"]["health"]["impact"]["level"] = level.into();
        if let Some(r) = reference {
            v["insight"]["health"]["remediation"]["reference"] = r.into();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn third_parties_claim_at_most_warning_unless_the_administrator_raises_it() {
        let g = Grant::from_spec(InformerName::new("storage").unwrap(), &spec(""));
        assert!(g.check(&health_at("Warning", None)).is_ok());
        for level in ["Error", "Critical"] {
            let e = g.check(&health_at(level, None)).unwrap_err();
            assert!(
                matches!(
                    e,
                    PolicyViolation::Level {
                        max: ImpactLevel::Warning,
                        ..
                    }
                ),
                "{e}"
            );
            assert_eq!(
                e.field(&health_at(level, None).insight),
                "insight.health.impact.level"
            );
        }
        let raised = Grant::from_spec(
            InformerName::new("storage").unwrap(),
            &spec("  maxLevel: Error\n"),
        );
        assert!(raised.check(&health_at("Error", None)).is_ok());
        assert!(raised.check(&health_at("Critical", None)).is_err());
        let owner = Grant::from_spec(InformerName::new("machine-config").unwrap(), &spec(""));
        assert!(owner.check(&health_at("Critical", None)).is_ok());
    }

    #[test]
    fn third_parties_link_only_to_plain_https() {
        let g = Grant::from_spec(InformerName::new("storage").unwrap(), &spec(""));
        assert!(
            g.check(&health_at(
                "Info",
                Some("https://example.com/runbook?a=b#c")
            ))
            .is_ok()
        );
        for bad in [
            "http://example.com/runbook",
            "https://docs.openshift.com@evil.example/x",
            "https://user:pass@example.com",
            "https://\u{0435}xample.com/",
            "https://example.com/caf\u{e9}",
        ] {
            let e = g.check(&health_at("Info", Some(bad))).unwrap_err();
            assert!(matches!(e, PolicyViolation::Link { .. }), "{bad}: {e}");
        }
        let owner = Grant::from_spec(InformerName::new("machine-config").unwrap(), &spec(""));
        assert!(
            owner
                .check(&health_at("Info", Some("http://example.com")))
                .is_ok()
        );
    }

    #[test]
    fn a_start_in_the_future_is_refused_beyond_the_clock_skew() {
        let g = Grant::builtin(InformerName::new("machine-config").unwrap());
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let starting = |at: &str| {
            let mut v = serde_json::to_value(health("ControlPlane")).unwrap();
            v["insight"]["health"]["startedAt"] = at.into();
            serde_json::from_value::<ReportedInsight>(v).unwrap()
        };
        // Within the skew, and in the past or unknown, all pass; owners are not exempt.
        for ok in ["2026-01-01T12:05:00Z", "2020-01-01T00:00:00Z"] {
            assert!(g.check_at(&starting(ok), now).is_ok(), "{ok}");
        }
        assert!(g.check_at(&health("ControlPlane"), now).is_ok());
        let far = starting("2099-01-01T00:00:00Z");
        assert!(g.check(&far).is_ok(), "check alone has no clock");
        let e = g.check_at(&far, now).unwrap_err();
        assert!(matches!(e, PolicyViolation::Future { .. }), "{e}");
        assert_eq!(e.field(&far.insight), "insight.health.startedAt");
        assert!(e.to_string().contains("2099-01-01T00:00:00Z"), "{e}");
    }
}
