//! The kubeconfig a client uses to reach the fake: server URL, CA data and a bearer token.
//!
//! Written as a file too, so code that only takes `KUBECONFIG` (or a path flag) is tested through
//! the same loading path it uses in production.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tempfile::NamedTempFile;

use crate::error::Error;

/// Renders the kubeconfig YAML. Strings are quoted as JSON strings, which YAML reads the same.
pub(crate) fn render(url: &str, ca_pem: &str, token: &str, namespace: &str) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: fake\n  \
           cluster:\n    \
             server: {server}\n    \
             certificate-authority-data: {ca}\n\
         users:\n\
         - name: fake-admin\n  \
           user:\n    \
             token: {token}\n\
         contexts:\n\
         - name: fake\n  \
           context:\n    \
             cluster: fake\n    \
             user: fake-admin\n    \
             namespace: {namespace}\n\
         current-context: fake\n",
        server = q(url),
        ca = q(&STANDARD.encode(ca_pem)),
        token = q(token),
        namespace = q(namespace),
    )
}

/// Writes the kubeconfig to a private temporary file, deleted when the handle is dropped.
pub(crate) fn write(yaml: &str) -> Result<NamedTempFile, Error> {
    let mut file = tempfile::Builder::new()
        .prefix("fake-apiserver-")
        .suffix(".kubeconfig")
        .tempfile()
        .map_err(Error::Kubeconfig)?;
    file.write_all(yaml.as_bytes()).map_err(Error::Kubeconfig)?;
    file.flush().map_err(Error::Kubeconfig)?;
    Ok(file)
}
