//! The HTTPS transport: TLS profiles, the reloadable serving certificate, the hardened accept
//! loop with its per-source accounting and authentication deadline, the plain-HTTP probe
//! listener, and request-level limits. Routes and handlers live elsewhere; this module only
//! decides how bytes reach them and how long a client may hold the server.

#![deny(missing_docs)]

pub mod auth_mark;
pub mod certs;
pub mod conn_metrics;
pub mod limits;
pub mod listener;
pub mod openshift_profile;
pub mod peers;
pub mod probe;
pub mod tls;

pub use auth_mark::AuthMark;
pub use certs::{CertError, ReloadConfig, ReloadOutcome, ReloadingCert};
pub use conn_metrics::ConnectionMetrics;
pub use limits::{RequestLimits, harden};
pub use listener::{ListenerConfig, ServeError, serve, serve_with_metrics};
pub use probe::{Heartbeat, PROBE_STALL_LIMIT, serve_probes, spawn_probe_thread};
pub use tls::{TlsConfigHandle, TlsError, TlsPolicy, TlsProfile, server_config};
