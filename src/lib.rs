//! update-status-controller: collects insights about a running OpenShift update, from remote
//! producers and from its own built-in informers, and publishes them as `UpgradeStatus/cluster`.
//!
//! Data flows one way: cluster source or report → informer (objects + now → insights) → store
//! (validate, key by informer and uid, budget) → publisher and renderer.

pub mod audit_format;
pub mod auth;
pub mod builtin;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod crds;
pub mod events;
pub mod http;
pub mod informers;
pub mod logging;
pub mod publish;
pub mod render;
pub mod serve;
pub mod server;
pub mod store;

pub use update_status_api as api;
