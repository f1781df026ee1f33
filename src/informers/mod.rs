//! Remote informers: the registry of UpdateInformers (who may report for which informer) and the
//! per-informer policy a report must satisfy (types, scopes, count).

pub mod observed;
pub mod paging;
pub mod policy;
pub mod registry;
pub mod status;

pub use policy::{Grant, PolicyViolation};
pub use registry::{Denial, NOT_ALLOWED, Registry};
