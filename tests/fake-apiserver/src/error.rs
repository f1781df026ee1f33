//! Errors of the fake's own API (starting it, registering resources, test-side object access).
//!
//! Failures a client would see over HTTP are [`ApiError`]s; they are wrapped here when the
//! test-side helpers hit them, so a test can tell "the fake is broken" from "the server refused".

use crate::status::ApiError;

/// What can go wrong outside an HTTP request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not be bound or configured.
    #[error("binding 127.0.0.1:0: {0}")]
    Bind(#[source] std::io::Error),
    /// Generating the CA or the serving certificate failed.
    #[error("generating TLS material: {0}")]
    Tls(String),
    /// The kubeconfig file could not be written.
    #[error("writing the kubeconfig: {0}")]
    Kubeconfig(#[source] std::io::Error),
    /// The service-account signing key could not be made, read or used.
    #[error("service-account key: {0}")]
    Key(String),
    /// An object or definition given by the test is not usable.
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// The test named a resource the fake does not serve.
    #[error("unknown resource {0}")]
    UnknownResource(String),
    /// The store refused the operation as it would refuse the HTTP request.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The fake's result type.
pub type Result<T> = std::result::Result<T, Error>;
