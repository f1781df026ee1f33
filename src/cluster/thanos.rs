//! Reads firing and pending alerts from the in-cluster Thanos Querier (`/api/v1/alerts`), as
//! `oc adm upgrade status` does, with the controller's own service-account token.
//!
//! The token file is re-read for every request (the kubelet rotates projected tokens) and the
//! CA bundle is the service CA (OpenShift puts `service-ca.crt` into every service-account
//! volume). The token is sent only to the configured URL, over TLS that verifies the server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::openshift::AlertData;
use crate::commands::report::{self, ReportError};

/// Longest answer accepted: a cluster with thousands of firing alerts stays far below it.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Where and how to read the alerts.
#[derive(Debug, Clone)]
pub struct ThanosSource {
    /// `https://host:port` of the querier.
    server: String,
    /// The path (and query) of the alerts API.
    path: String,
    /// The bearer token file (re-read per request).
    pub token_file: PathBuf,
    /// The CA bundle that signs the querier's serving certificate.
    pub ca_file: PathBuf,
    /// How long one read may take.
    pub timeout: Duration,
}

/// Why the alerts could not be read; each message says which step failed.
#[derive(Debug, thiserror::Error)]
pub enum ThanosError {
    /// The URL is not `https://host[:port]/path`.
    #[error(
        "--alerts-url {0:?} must be an https URL such as https://thanos-querier.openshift-monitoring.svc:9091/api/v1/alerts"
    )]
    BadUrl(String),
    /// The token or CA file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is empty.
    #[error("the token file {} is empty", .0.display())]
    EmptyToken(PathBuf),
    /// Connecting, TLS or HTTP failed.
    #[error(transparent)]
    Exchange(#[from] ReportError),
    /// No answer within the timeout.
    #[error("no answer from {server} within {timeout:?}")]
    Timeout {
        /// The querier.
        server: String,
        /// The limit.
        timeout: Duration,
    },
    /// The querier answered with an error status.
    #[error("{server} answered HTTP {status}: {body}")]
    Status {
        /// The querier.
        server: String,
        /// The status code.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// The answer is not an alerts document.
    #[error("the answer of {server} is not a Prometheus alerts document: {source}")]
    Decode {
        /// The querier.
        server: String,
        /// Why.
        source: serde_json::Error,
    },
}

impl ThanosSource {
    /// A source reading `url` with the token in `token_file`, trusting `ca_file`.
    pub fn new(url: &str, token_file: &Path, ca_file: &Path) -> Result<Self, ThanosError> {
        let bad = || ThanosError::BadUrl(url.to_owned());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| p != "/")
            .ok_or_else(bad)?;
        Ok(Self {
            server: format!("https://{authority}"),
            path,
            token_file: token_file.to_owned(),
            ca_file: ca_file.to_owned(),
            timeout: Duration::from_secs(10),
        })
    }

    /// The querier's address, for logs.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Reads the alerts once.
    pub async fn fetch(&self) -> Result<AlertData, ThanosError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ThanosError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let token = String::from_utf8_lossy(&read(&self.token_file)?)
            .trim()
            .to_owned();
        if token.is_empty() {
            return Err(ThanosError::EmptyToken(self.token_file.clone()));
        }
        let ca = read(&self.ca_file)?;
        let answer = tokio::time::timeout(
            self.timeout,
            report::get_limited(
                &self.server,
                &self.path,
                &token,
                &ca,
                &self.ca_file,
                MAX_ANSWER_BYTES,
            ),
        )
        .await
        .map_err(|_| ThanosError::Timeout {
            server: self.server.clone(),
            timeout: self.timeout,
        })??;
        if answer.status != 200 {
            return Err(ThanosError::Status {
                server: self.server.clone(),
                status: answer.status,
                body: answer.body.chars().take(200).collect(),
            });
        }
        serde_json::from_str(&answer.body).map_err(|source| ThanosError::Decode {
            server: self.server.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_with_a_path() {
        let ok = ThanosSource::new(
            "https://thanos-querier.openshift-monitoring.svc:9091/api/v1/alerts",
            Path::new("t"),
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(
            ok.server(),
            "https://thanos-querier.openshift-monitoring.svc:9091"
        );
        assert_eq!(ok.path, "/api/v1/alerts");
        for bad in [
            "http://thanos:9091/api/v1/alerts",
            "https://thanos:9091",
            "thanos/api",
            "",
        ] {
            assert!(
                ThanosSource::new(bad, Path::new("t"), Path::new("c")).is_err(),
                "{bad}"
            );
        }
    }
}
