//! The cluster as the Kubernetes API shows it: a watch per kind the built-in informers read,
//! kept in a [`ClusterCache`] from which a [`crate::cluster::ClusterState`] snapshot is taken
//! whenever something changed.

pub mod cache;
pub mod kinds;
pub mod watch;

pub use cache::{ClusterCache, Touched};
pub use watch::spawn_watches;
