//! The rules that span fields: in the CRDs they are CEL rules and keyed lists
//! (`x-kubernetes-list-type: map`); here they are the same rules in Rust, applied to everything a
//! producer sends. Single-field limits live in the types themselves (`constraints`).

use std::collections::HashSet;

use serde::de::DeserializeOwned;

use crate::v1alpha1::{
    Condition, InsightPayload, InsightScope, InsightType, RESERVED_INFORMER_NAMES,
    STATUS_INSIGHT_INFORMERS, ScopeType, UPGRADE_STATUS_NAME, UpdateInformer, UpgradeStatus,
};

/// One broken rule: where (a JSON path) and why (for a person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The offending field, as a dotted path from the value validated.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl Violation {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

/// Deserializes `value` into `T`, enforcing every single-field limit, and names the field that
/// broke one.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Violation> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        Violation::new(
            if path == "." { String::new() } else { path },
            e.into_inner().to_string(),
        )
    })
}

/// Deserializes the JSON text `json` into `T` like [`from_value`], without building a
/// `serde_json::Value` first: the report path reads each insight straight from the body. The
/// path of the offending field is tracked only when the input is refused (a second pass), so
/// valid input pays nothing for it.
pub fn from_json_str<T: DeserializeOwned>(json: &str) -> Result<T, Violation> {
    serde_json::from_str(json).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_str(json);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) => {
                let path = e.path().to_string();
                Violation::new(
                    if path == "." { String::new() } else { path },
                    e.into_inner().to_string(),
                )
            }
            // Only trailing input fails the first pass and not the second.
            Ok(_) => Violation::new(String::new(), plain.to_string()),
        }
    })
}

/// An `UpgradeStatus` as JSON, checked against every rule of its CRD.
pub fn upgrade_status_from_value(
    value: serde_json::Value,
) -> Result<UpgradeStatus, Vec<Violation>> {
    let obj: UpgradeStatus = from_value(value).map_err(|v| vec![v])?;
    let violations = upgrade_status_rules(&obj);
    if violations.is_empty() {
        Ok(obj)
    } else {
        Err(violations)
    }
}

/// A `NodeProgressInsight` as JSON, checked against every rule of its CRD.
pub fn node_progress_insight_from_value(
    value: serde_json::Value,
) -> Result<crate::v1alpha1::NodeProgressInsight, Vec<Violation>> {
    // The node's fields are flattened into `status`, which hides the offending field's path
    // from serde: read them as a Node insight first, to name it.
    if let Some(serde_json::Value::Object(status)) = value.get("status") {
        let mut node = status.clone();
        for own in ["informer", "uid", "acquiredAt"] {
            node.remove(own);
        }
        if let Err(v) = from_value::<crate::v1alpha1::NodeInsight>(serde_json::Value::Object(node))
        {
            let field = if v.field.is_empty() {
                "status".to_owned()
            } else {
                format!("status.{}", v.field)
            };
            return Err(vec![Violation::new(field, v.reason)]);
        }
    }
    let obj: crate::v1alpha1::NodeProgressInsight = from_value(value).map_err(|v| vec![v])?;
    let mut out = Vec::new();
    if let Some(status) = &obj.status {
        unique_conditions(&status.node.conditions, "status.conditions", &mut out);
        if obj.metadata.name.as_deref() != Some(status.node.name.as_str()) {
            out.push(Violation::new(
                String::new(),
                "a NodeProgressInsight is named after its node: status.name must equal metadata.name",
            ));
        }
    }
    if out.is_empty() { Ok(obj) } else { Err(out) }
}

/// An `UpdateInformer` as JSON, checked against every rule of its CRD.
pub fn update_informer_from_value(
    value: serde_json::Value,
) -> Result<UpdateInformer, Vec<Violation>> {
    let obj: UpdateInformer = from_value(value).map_err(|v| vec![v])?;
    let violations = update_informer_rules(&obj);
    if violations.is_empty() {
        Ok(obj)
    } else {
        Err(violations)
    }
}

/// The cross-field rules of one insight, with paths relative to the insight's `insight` field.
pub fn insight_rules(payload: &InsightPayload, prefix: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let at = |field: &str| format!("{prefix}{field}");
    match payload {
        InsightPayload::ClusterVersion(cv) => {
            unique_conditions(&cv.conditions, &at("clusterVersion.conditions"), &mut out)
        }
        InsightPayload::ClusterOperator(co) => {
            unique_conditions(&co.conditions, &at("clusterOperator.conditions"), &mut out)
        }
        InsightPayload::MachineConfigPool(p) => {
            unique_conditions(&p.conditions, &at("machineConfigPool.conditions"), &mut out);
            unique_keys(
                p.summaries.iter().map(|s| format!("{:?}", s.type_)),
                &at("machineConfigPool.summaries"),
                &mut out,
            );
        }
        InsightPayload::Node(n) => {
            unique_conditions(&n.conditions, &at("node.conditions"), &mut out)
        }
        InsightPayload::Health(h) => {
            if let Some(reason) = scope_violation(&h.scope) {
                out.push(Violation::new(at("health.scope"), reason));
            }
        }
    }
    out
}

/// The health-scope CEL rule: `pool` is set exactly when the scope is a worker pool.
pub fn scope_violation(scope: &InsightScope) -> Option<&'static str> {
    match (scope.type_, scope.pool.is_some()) {
        (ScopeType::WorkerPool, false) | (ScopeType::ControlPlane, true) => {
            Some("pool must be set exactly when type is WorkerPool")
        }
        _ => None,
    }
}

/// Every cross-field rule of an `UpgradeStatus`.
pub fn upgrade_status_rules(obj: &UpgradeStatus) -> Vec<Violation> {
    let mut out = Vec::new();
    if obj.metadata.name.as_deref() != Some(UPGRADE_STATUS_NAME) {
        out.push(Violation::new(
            "metadata.name",
            "UpgradeStatus is a singleton: its name must be cluster",
        ));
    }
    let Some(status) = &obj.status else {
        return out;
    };
    unique_conditions(&status.conditions, "status.conditions", &mut out);
    unique_keys(
        status.worker_pools.iter().map(|p| p.name.to_string()),
        "status.workerPools",
        &mut out,
    );
    unique_keys(
        status.informers.iter().map(|i| i.name.to_string()),
        "status.informers",
        &mut out,
    );
    for (i, s) in status.informers.iter().enumerate() {
        unique_keys(
            s.omitted.iter().map(|o| format!("{:?}", o.type_)),
            &format!("status.informers[{i}].omitted"),
            &mut out,
        );
    }
    let mut scopes = Vec::new();
    if let Some(cp) = &status.control_plane {
        unique_conditions(&cp.conditions, "status.controlPlane.conditions", &mut out);
        scopes.push(("status.controlPlane".to_owned(), &cp.informers));
    }
    for (i, pool) in status.worker_pools.iter().enumerate() {
        unique_conditions(
            &pool.conditions,
            &format!("status.workerPools[{i}].conditions"),
            &mut out,
        );
        scopes.push((format!("status.workerPools[{i}]"), &pool.informers));
    }
    for (path, informers) in scopes {
        unique_keys(
            informers.iter().map(|i| i.name.to_string()),
            &format!("{path}.informers"),
            &mut out,
        );
        for (i, informer) in informers.iter().enumerate() {
            let base = format!("{path}.informers[{i}].insights");
            unique_keys(
                informer.insights.iter().map(|x| x.uid.to_string()),
                &base,
                &mut out,
            );
            for (j, insight) in informer.insights.iter().enumerate() {
                out.extend(insight_rules(
                    &insight.insight,
                    &format!("{base}[{j}].insight."),
                ));
            }
        }
    }
    out
}

/// Every cross-field rule of an `UpdateInformer`.
pub fn update_informer_rules(obj: &UpdateInformer) -> Vec<Violation> {
    let mut out = Vec::new();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let is_label = crate::v1alpha1::InformerName::new(name).is_ok();
    if !is_label {
        out.push(Violation::new(
            "metadata.name",
            "the name of an UpdateInformer must be an RFC 1123 label of at most 63 characters",
        ));
    }
    if RESERVED_INFORMER_NAMES.contains(&name) {
        out.push(Violation::new("", crate::crd::RESERVED_NAME_MESSAGE));
    }
    let mut seen = HashSet::new();
    for p in obj.spec.producers.iter() {
        let sa = &p.service_account;
        if !seen.insert((sa.namespace.to_string(), sa.name.to_string())) {
            out.push(Violation::new(
                "spec.producers",
                "each service account may be listed only once",
            ));
            break;
        }
    }
    if let Some(types) = &obj.spec.allowed_insight_types {
        let may_send_status = STATUS_INSIGHT_INFORMERS.contains(&name);
        if !may_send_status && types.iter().any(|t| *t != InsightType::Health) {
            out.push(Violation::new(
                "",
                "only the cluster-version and machine-config informers may send status insights; others may only allow Health",
            ));
        }
        unique_keys(
            types.iter().map(|t| t.as_str().to_owned()),
            "spec.allowedInsightTypes",
            &mut out,
        );
    }
    if let Some(scopes) = &obj.spec.allowed_scopes {
        unique_keys(
            scopes.iter().map(|s| format!("{s:?}")),
            "spec.allowedScopes",
            &mut out,
        );
    }
    if let Some(status) = &obj.status {
        unique_keys(
            status.conditions.iter().map(|c| c.type_.to_string()),
            "status.conditions",
            &mut out,
        );
    }
    out
}

fn unique_conditions(conditions: &[Condition], field: &str, out: &mut Vec<Violation>) {
    unique_keys(conditions.iter().map(|c| c.type_.to_string()), field, out);
}

fn unique_keys(keys: impl Iterator<Item = String>, field: &str, out: &mut Vec<Violation>) {
    let mut seen = HashSet::new();
    for k in keys {
        if !seen.insert(k.clone()) {
            out.push(Violation::new(
                field,
                format!("duplicate entry with key {k}"),
            ));
        }
    }
}
