//! Why a cluster source could not produce a state. Every variant names the file and the problem,
//! so a person can fix the input without reading the code.

use std::path::PathBuf;

/// A cluster source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML or JSON, or not of the shape of a Kubernetes object.
    #[error("{} is not valid YAML or JSON: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An object lacks a field the rules cannot do without (such as `metadata.name`).
    #[error("{}: {object} is missing the required field {field}", path.display())]
    MissingField {
        /// The file.
        path: PathBuf,
        /// Which object, such as `ClusterOperator at items[3]`.
        object: String,
        /// The field, such as `metadata.name`.
        field: String,
    },
    /// A field has a value of the wrong type or form.
    #[error("{}: {object} has an invalid {field}: {message}", path.display())]
    InvalidField {
        /// The file.
        path: PathBuf,
        /// Which object.
        object: String,
        /// The field path, such as `status.conditions[0].lastTransitionTime`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A file holds an object of a kind other than the one its name promises.
    #[error("{}: expected a {expected}, found {object}", path.display())]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// Which object.
        object: String,
        /// The kind the file must hold.
        expected: String,
        /// The kind it holds.
        found: String,
    },
    /// No ClusterVersion was found; nothing can be assessed without one.
    #[error("no ClusterVersion found in {}", path.display())]
    MissingClusterVersion {
        /// The file or directory searched.
        path: PathBuf,
    },
    /// The `oc` mock layout needs a path ending in `-cv.yaml` to find the sibling files.
    #[error("{} does not end in -cv.yaml, so the sibling -co.yaml, -mcp.yaml, -mc.yaml and -node.yaml files cannot be found", path.display())]
    NotMockPath {
        /// The path given.
        path: PathBuf,
    },
}
