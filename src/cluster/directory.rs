//! A directory of Kubernetes objects standing in for the API server: every `*.yaml`, `*.yml` and
//! `*.json` file in it (not in subdirectories) is read, whatever its name. Objects of kinds no
//! informer reads are skipped, so the directory may also hold UpdateInformers or the UpgradeStatus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::decode::{Object, read_objects};
use super::openshift::AlertData;
use super::{ClusterSource, ClusterState, SourceError};

/// The namespace and name of the Deployment whose image tells whether the MCO is updated.
const MCO_NAMESPACE: &str = "openshift-machine-config-operator";
const MCO_DEPLOYMENT: &str = "machine-config-operator";

/// Reads a whole directory as a cluster.
#[derive(Clone, Debug)]
pub struct DirectorySource {
    dir: PathBuf,
}

impl DirectorySource {
    /// A source reading the files directly inside `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The object files of the directory, sorted by name so the result never depends on the file
    /// system's order.
    fn files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let read_err = |source| SourceError::Read {
            path: self.dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            let wanted = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if wanted && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Objects keyed by name: a later file replaces an earlier object of the same name, and the
/// result is in name order, as the API server lists.
type ByName<T> = BTreeMap<String, T>;

fn insert<T>(map: &mut ByName<T>, meta: &ObjectMeta, value: T) {
    map.insert(meta.name.clone().unwrap_or_default(), value);
}

impl ClusterSource for DirectorySource {
    fn load(&self) -> Result<ClusterState, SourceError> {
        let mut cvs = ByName::new();
        let mut cos = ByName::new();
        let mut mcps = ByName::new();
        let mut mcs = ByName::new();
        let mut nodes = ByName::new();
        let mut alerts: Option<AlertData> = None;
        let mut mco_deployment = None;

        for path in self.files()? {
            for located in read_objects(&path)? {
                match located.object {
                    Object::ClusterVersion(x) => insert(&mut cvs, &x.metadata.clone(), *x),
                    Object::ClusterOperator(x) => insert(&mut cos, &x.metadata.clone(), *x),
                    Object::MachineConfigPool(x) => insert(&mut mcps, &x.metadata.clone(), *x),
                    Object::MachineConfig(x) => insert(&mut mcs, &x.metadata.clone(), *x),
                    Object::Node(x) => insert(&mut nodes, &x.metadata.clone(), *x),
                    Object::Deployment(d) => {
                        let is_mco = d.metadata.namespace.as_deref() == Some(MCO_NAMESPACE)
                            && d.metadata.name.as_deref() == Some(MCO_DEPLOYMENT);
                        if is_mco {
                            mco_deployment = Some(*d);
                        }
                    }
                    Object::Alerts(a) => match &mut alerts {
                        Some(existing) => existing.data.alerts.extend(a.data.alerts),
                        None => alerts = Some(*a),
                    },
                    Object::Other { .. } => {}
                }
            }
        }

        // The cluster's ClusterVersion is named `version`; any other is a stray copy.
        let cv = match cvs.remove("version") {
            Some(cv) => cv,
            None => cvs
                .into_values()
                .next()
                .ok_or_else(|| SourceError::MissingClusterVersion {
                    path: self.dir.clone(),
                })?,
        };

        Ok(ClusterState {
            cv,
            cos: cos.into_values().collect(),
            mcps: mcps.into_values().collect(),
            mcs: mcs.into_values().collect(),
            nodes: nodes.into_values().collect(),
            alerts,
            mco_deployment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write_file(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("usc-dir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_every_object_file_and_sorts_by_name() {
        let dir = temp_dir("ok");
        write_file(
            &dir,
            "a.yaml",
            "apiVersion: config.openshift.io/v1\nkind: ClusterOperatorList\nitems:\n- metadata: {name: zeta}\n- metadata: {name: alpha}\n",
        );
        write_file(
            &dir,
            "b.json",
            r#"{"apiVersion":"config.openshift.io/v1","kind":"ClusterVersion","metadata":{"name":"version"}}"#,
        );
        write_file(
            &dir,
            "c.yml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ignored}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: machine-config-operator, namespace: openshift-machine-config-operator}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: other, namespace: x}\n",
        );
        write_file(
            &dir,
            "x-alerts.json",
            r#"{"data":{"alerts":[{"labels":{"alertname":"A"}}]}}"#,
        );
        write_file(&dir, "notes.txt", "not read: {");
        let state = DirectorySource::new(&dir).load().unwrap();
        let names: Vec<_> = state
            .cos
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["alpha", "zeta"]);
        assert_eq!(
            state
                .mco_deployment
                .and_then(|d| d.metadata.name)
                .as_deref(),
            Some("machine-config-operator")
        );
        assert_eq!(state.alerts.map(|a| a.data.alerts.len()), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_cluster_version_and_bad_files_are_errors() {
        let dir = temp_dir("bad");
        write_file(&dir, "a.yaml", "kind: Node\nmetadata: {name: n}\n");
        let e = DirectorySource::new(&dir).load().unwrap_err();
        assert!(
            matches!(e, SourceError::MissingClusterVersion { .. }),
            "{e}"
        );

        write_file(&dir, "b.yaml", "kind: [\n");
        let e = DirectorySource::new(&dir).load().unwrap_err();
        assert!(
            matches!(&e, SourceError::Malformed { path, .. } if path.ends_with("b.yaml")),
            "{e}"
        );

        let e = DirectorySource::new(dir.join("absent")).load().unwrap_err();
        assert!(matches!(e, SourceError::Read { .. }), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
