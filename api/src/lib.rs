//! The `update.openshift.io/v1alpha1` API of the update-status-controller: the `UpgradeStatus`
//! and `UpdateInformer` kinds, and the wire types of the informer HTTP API. A producer written in
//! Rust depends on this crate alone.

pub mod constraints;
pub mod crd;
pub mod time;
pub mod v1alpha1;
pub mod validation;
pub mod wire;

/// The API group of both kinds.
pub const GROUP: &str = "update.openshift.io";
/// The API version of both kinds and of the informer HTTP API.
pub const VERSION: &str = "v1alpha1";
