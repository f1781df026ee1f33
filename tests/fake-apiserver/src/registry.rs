//! The resources the fake serves: what a real server learns from its built-in types and CRDs.
//!
//! Only what changes behaviour is kept: where a resource lives in the URL space (group, version,
//! plural, namespaced), how it is named in bodies (kind), whether `/status` is a separate
//! subresource (it changes what a write may touch and when `generation` moves), whether it is a
//! built-in type (their list items carry no `kind`/`apiVersion`, CRD items do) and, for CRDs
//! registered from YAML, the structural schema used to prune unknown fields.

use serde_json::Value;

/// One served resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDef {
    /// API group; empty for the core (`/api/v1`) group.
    pub group: String,
    /// The served version.
    pub version: String,
    /// The URL name (`leases`).
    pub plural: String,
    /// The `kind` of one object (`Lease`).
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `/status` is a subresource: writes to the main resource then ignore `.status`,
    /// writes to `/status` touch nothing else, and status writes never bump `generation`.
    pub has_status: bool,
    /// A built-in type (not a CRD): list items are written without `kind`/`apiVersion`.
    pub builtin: bool,
    /// A CRD's `openAPIV3Schema`: when present, unknown fields are pruned on every write as a real
    /// server prunes them for structural schemas.
    pub schema: Option<Value>,
}

impl ResourceDef {
    /// A cluster-scoped resource without a status subresource; refine it with the builder methods.
    pub fn new(group: &str, version: &str, plural: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            kind: kind.to_owned(),
            namespaced: false,
            has_status: false,
            builtin: false,
            schema: None,
        }
    }

    /// Marks the resource namespaced.
    pub fn namespaced(mut self) -> Self {
        self.namespaced = true;
        self
    }

    /// Gives the resource a `/status` subresource.
    pub fn with_status(mut self) -> Self {
        self.has_status = true;
        self
    }

    /// Marks the resource a built-in type rather than a CRD.
    pub fn builtin(mut self) -> Self {
        self.builtin = true;
        self
    }

    /// `v1` for the core group, `group/version` otherwise: the `apiVersion` of its objects.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (or `plural` in the core group): how the real server names the resource in
    /// error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The kind of the collection (`LeaseList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The key the store files objects of this resource under (group and plural, not version).
    pub(crate) fn store_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }
}

/// The set of served resources.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    defs: Vec<ResourceDef>,
}

impl Registry {
    /// The resources the controller reads and writes, and the core ones its tests need.
    pub fn builtin() -> Self {
        let core = |plural: &str, kind: &str| ResourceDef::new("", "v1", plural, kind).builtin();
        let defs = vec![
            core("namespaces", "Namespace").with_status(),
            core("nodes", "Node").with_status(),
            core("events", "Event").namespaced(),
            core("configmaps", "ConfigMap").namespaced(),
            core("pods", "Pod").namespaced().with_status(),
            core("serviceaccounts", "ServiceAccount").namespaced(),
            ResourceDef::new("events.k8s.io", "v1", "events", "Event")
                .namespaced()
                .builtin(),
            ResourceDef::new("coordination.k8s.io", "v1", "leases", "Lease")
                .namespaced()
                .builtin(),
            ResourceDef::new("apps", "v1", "deployments", "Deployment")
                .namespaced()
                .with_status()
                .builtin(),
            ResourceDef::new(
                "config.openshift.io",
                "v1",
                "clusterversions",
                "ClusterVersion",
            )
            .with_status(),
            ResourceDef::new(
                "config.openshift.io",
                "v1",
                "clusteroperators",
                "ClusterOperator",
            )
            .with_status(),
            ResourceDef::new(
                "config.openshift.io",
                "v1",
                "infrastructures",
                "Infrastructure",
            )
            .with_status(),
            ResourceDef::new("config.openshift.io", "v1", "apiservers", "APIServer").with_status(),
            ResourceDef::new(
                "machineconfiguration.openshift.io",
                "v1",
                "machineconfigpools",
                "MachineConfigPool",
            )
            .with_status(),
            ResourceDef::new(
                "machineconfiguration.openshift.io",
                "v1",
                "machineconfigs",
                "MachineConfig",
            ),
            ResourceDef::new(
                "update.openshift.io",
                "v1alpha1",
                "upgradestatuses",
                "UpgradeStatus",
            )
            .with_status(),
            ResourceDef::new(
                "update.openshift.io",
                "v1alpha1",
                "updateinformers",
                "UpdateInformer",
            )
            .with_status(),
            ResourceDef::new(
                "update.openshift.io",
                "v1alpha1",
                "nodeprogressinsights",
                "NodeProgressInsight",
            )
            .with_status(),
        ];
        Self { defs }
    }

    /// Adds a resource, replacing one with the same group and plural (a CRD update).
    pub fn register(&mut self, def: ResourceDef) {
        self.defs
            .retain(|d| !(d.group == def.group && d.plural == def.plural));
        self.defs.push(def);
    }

    /// The resource at `group/version/plural`, if served.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// The resource with this group and plural, whatever its version (for test-side access).
    pub fn lookup_any_version(&self, group: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.plural == plural)
    }

    /// Every served resource.
    pub fn all(&self) -> &[ResourceDef] {
        &self.defs
    }
}
