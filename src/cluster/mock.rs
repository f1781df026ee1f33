//! The file layout of `oc adm upgrade status --mock-clusterversion=<case>-cv.yaml`: the sibling
//! `-co.yaml`, `-mcp.yaml`, `-mc.yaml` and `-node.yaml` files are required, `-alerts.json` and
//! `-mco-deployment.yaml` optional. Lists keep file order, as `oc` reads them.

use std::path::{Path, PathBuf};

use super::decode::{Located, Object, read_objects, read_text};
use super::openshift::AlertData;
use super::{ClusterSource, ClusterState, SourceError};

const CV_SUFFIX: &str = "-cv.yaml";

/// Reads one `oc` mock case, given the path of its `-cv.yaml` file.
#[derive(Clone, Debug)]
pub struct OcMockSource {
    cv_path: PathBuf,
}

impl OcMockSource {
    /// A source for the case whose ClusterVersion file is `cv_path` (it must end in `-cv.yaml`).
    pub fn new(cv_path: impl Into<PathBuf>) -> Self {
        Self {
            cv_path: cv_path.into(),
        }
    }

    /// The sibling file with `suffix` in place of `-cv.yaml`, as `oc` derives it.
    fn sibling(&self, suffix: &str) -> Result<PathBuf, SourceError> {
        let name = self
            .cv_path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(CV_SUFFIX))
            .ok_or_else(|| SourceError::NotMockPath {
                path: self.cv_path.clone(),
            })?;
        Ok(self.cv_path.with_file_name(format!("{name}{suffix}")))
    }
}

/// Every object in `path`, each required to be of kind `expected`.
fn all_of<T>(
    path: &Path,
    expected: &str,
    pick: impl Fn(Object) -> Option<T>,
) -> Result<Vec<T>, SourceError> {
    let mut out = Vec::new();
    for mut located in read_objects(path)? {
        // Described only when wrong: a 5,000-node file would otherwise format 5,000 messages.
        let wrong = |located: &Located| SourceError::WrongKind {
            path: path.to_owned(),
            object: located.describe(),
            expected: expected.into(),
            found: located.object.kind().to_owned(),
        };
        if located.object.kind() != expected {
            return Err(wrong(&located));
        }
        let location = std::mem::take(&mut located.location);
        match pick(located.object) {
            Some(v) => out.push(v),
            // The kind matched, so the picker itself is wrong.
            None => {
                return Err(SourceError::WrongKind {
                    path: path.to_owned(),
                    object: location,
                    expected: expected.into(),
                    found: expected.into(),
                });
            }
        }
    }
    Ok(out)
}

impl ClusterSource for OcMockSource {
    fn load(&self) -> Result<ClusterState, SourceError> {
        let co_path = self.sibling("-co.yaml")?;
        let cv_path = &self.cv_path;

        // oc uses the first item of a ClusterVersionList or v1 List.
        let first = read_objects(cv_path)?.into_iter().next().ok_or_else(|| {
            SourceError::MissingClusterVersion {
                path: cv_path.clone(),
            }
        })?;
        let description = first.describe();
        let cv = match first.object {
            Object::ClusterVersion(cv) => *cv,
            other => {
                return Err(SourceError::WrongKind {
                    path: cv_path.clone(),
                    object: description,
                    expected: "ClusterVersion".into(),
                    found: other.kind().to_owned(),
                });
            }
        };

        let cos = all_of(&co_path, "ClusterOperator", |o| match o {
            Object::ClusterOperator(x) => Some(*x),
            _ => None,
        })?;
        let mcps = all_of(
            &self.sibling("-mcp.yaml")?,
            "MachineConfigPool",
            |o| match o {
                Object::MachineConfigPool(x) => Some(*x),
                _ => None,
            },
        )?;
        let mcs = all_of(&self.sibling("-mc.yaml")?, "MachineConfig", |o| match o {
            Object::MachineConfig(x) => Some(*x),
            _ => None,
        })?;
        let nodes = all_of(&self.sibling("-node.yaml")?, "Node", |o| match o {
            Object::Node(x) => Some(*x),
            _ => None,
        })?;

        // Optional files: absent means "not available", as in oc.
        let alerts_path = self.sibling("-alerts.json")?;
        let alerts = if alerts_path.exists() {
            let text = read_text(&alerts_path)?;
            let data: AlertData =
                serde_json::from_str(&text).map_err(|e| SourceError::Malformed {
                    path: alerts_path.clone(),
                    message: e.to_string(),
                })?;
            Some(data)
        } else {
            None
        };
        let deployment_path = self.sibling("-mco-deployment.yaml")?;
        let mco_deployment = if deployment_path.exists() {
            all_of(&deployment_path, "Deployment", |o| match o {
                Object::Deployment(x) => Some(*x),
                _ => None,
            })?
            .into_iter()
            .next()
        } else {
            None
        };

        Ok(ClusterState {
            cv,
            cos,
            mcps,
            mcs,
            nodes,
            alerts,
            mco_deployment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "usc-mock-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn minimal_case(dir: &Path) {
        write(
            dir,
            "c-cv.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: config.openshift.io/v1\n  kind: ClusterVersion\n  metadata: {name: version}\n",
        );
        write(
            dir,
            "c-co.yaml",
            "apiVersion: config.openshift.io/v1\nkind: ClusterOperatorList\nitems:\n- metadata: {name: b}\n- metadata: {name: a}\n",
        );
        write(dir, "c-mcp.yaml", "apiVersion: v1\nkind: List\nitems: []\n");
        write(dir, "c-mc.yaml", "apiVersion: v1\nkind: List\nitems: []\n");
        write(
            dir,
            "c-node.yaml",
            r#"{"apiVersion":"v1","kind":"List","items":[]}"#,
        );
    }

    #[test]
    fn reads_siblings_and_keeps_file_order() {
        let dir = temp_dir("ok");
        minimal_case(&dir);
        let state = OcMockSource::new(dir.join("c-cv.yaml")).load().unwrap();
        assert_eq!(state.cv.metadata.name.as_deref(), Some("version"));
        let names: Vec<_> = state
            .cos
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["b", "a"]);
        assert!(state.alerts.is_none());
        assert!(state.mco_deployment.is_none());

        write(&dir, "c-alerts.json", r#"{"data":{"alerts":[]}}"#);
        let state = OcMockSource::new(dir.join("c-cv.yaml")).load().unwrap();
        assert!(state.alerts.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wrong_kind_and_missing_file_are_errors() {
        let dir = temp_dir("bad");
        minimal_case(&dir);
        write(
            &dir,
            "c-mc.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n}\n",
        );
        let e = OcMockSource::new(dir.join("c-cv.yaml")).load().unwrap_err();
        assert!(
            matches!(&e, SourceError::WrongKind { expected, found, .. } if expected == "MachineConfig" && found == "Node"),
            "{e}"
        );
        assert!(e.to_string().contains("c-mc.yaml"), "{e}");

        std::fs::remove_file(dir.join("c-node.yaml")).unwrap();
        minimal_case(&dir);
        std::fs::remove_file(dir.join("c-node.yaml")).unwrap();
        let e = OcMockSource::new(dir.join("c-cv.yaml")).load().unwrap_err();
        assert!(
            matches!(&e, SourceError::Read { path, .. } if path.ends_with("c-node.yaml")),
            "{e}"
        );

        let e = OcMockSource::new(dir.join("c.yaml")).load().unwrap_err();
        assert!(matches!(e, SourceError::NotMockPath { .. }), "{e}");

        write(&dir, "e-cv.yaml", "apiVersion: v1\nkind: List\nitems: []\n");
        let e = OcMockSource::new(dir.join("e-cv.yaml")).load().unwrap_err();
        assert!(
            matches!(e, SourceError::MissingClusterVersion { .. }),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
