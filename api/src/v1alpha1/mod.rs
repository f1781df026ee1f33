//! `update.openshift.io/v1alpha1`.

pub mod common;
pub mod insight;
pub mod node_progress_insight;
pub mod update_informer;
pub mod upgrade_status;

pub use common::*;
pub use insight::*;
pub use node_progress_insight::*;
pub use update_informer::*;
pub use upgrade_status::*;
