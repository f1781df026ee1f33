//! The `crds` subcommand: the CRDs as one multi-document YAML stream, exactly what `crds/` holds.

use update_status_api::crd;

/// Errors while producing the CRD YAML.
#[derive(Debug, thiserror::Error)]
pub enum CrdsError {
    /// The CRDs could not be generated.
    #[error(transparent)]
    Generate(#[from] crd::CrdError),
    /// The CRDs could not be written as YAML.
    #[error("cannot write the CRDs as YAML: {0}")]
    Yaml(#[from] serde_saphyr::ser::Error),
}

/// The file names in `crds/`, one per CRD, in the order of [`crd::all`].
pub const CRD_FILES: [&str; 3] = [
    "0000_00_update-status-controller_01_upgradestatuses.crd.yaml",
    "0000_00_update-status-controller_01_updateinformers.crd.yaml",
    "0000_00_update-status-controller_01_nodeprogressinsights.crd.yaml",
];

/// Each CRD as its own YAML document, in the order of [`CRD_FILES`].
pub fn documents() -> Result<Vec<String>, CrdsError> {
    crd::all()?
        .iter()
        .map(|c| serde_saphyr::to_string(c).map_err(CrdsError::from))
        .collect()
}

/// Both CRDs as one stream separated by `---`, as the `crds` subcommand prints them.
pub fn yaml_stream() -> Result<String, CrdsError> {
    Ok(documents()?.iter().map(|d| format!("---\n{d}")).collect())
}
