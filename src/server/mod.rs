//! The HTTPS transport: TLS profiles, the reloadable serving certificate, the hardened accept
//! loop, and request-level limits. Routes and handlers live elsewhere; this module only decides
//! how bytes reach them and how long a client may hold the server.

#![deny(missing_docs)]

pub mod certs;
pub mod limits;
pub mod listener;
pub mod openshift_profile;
pub mod tls;

pub use certs::{CertError, ReloadConfig, ReloadOutcome, ReloadingCert};
pub use limits::{RequestLimits, harden};
pub use listener::{ListenerConfig, ServeError, serve};
pub use tls::{TlsConfigHandle, TlsError, TlsPolicy, TlsProfile, server_config};
