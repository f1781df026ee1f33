//! The state one server shares between its connections and the test-side handle.

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio_util::sync::CancellationToken;

use crate::FakeConfig;
use crate::faults::Faults;
use crate::issuer::Issuer;
use crate::registry::Registry;
use crate::requests::{InFlight, RequestLog};
use crate::reviews::{AccessRule, Tokens, UserInfo};
use crate::store::Store;

/// Everything a request handler may read or change.
pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) store: Arc<Store>,
    pub(crate) tokens: Mutex<Tokens>,
    pub(crate) rules: Mutex<Vec<AccessRule>>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) log: Mutex<RequestLog>,
    /// Requests outstanding per path, and the most at once.
    pub(crate) in_flight: Arc<Mutex<InFlight>>,
    pub(crate) issuer: Issuer,
    pub(crate) admin_token: String,
    pub(crate) url: String,
    /// Cancelled to end every open watch; replaced by a fresh token after each use.
    pub(crate) watches: Mutex<CancellationToken>,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data that is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks the registry (poison tolerated as for [`lock`]).
pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks the registry (poison tolerated as for [`lock`]).
pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// The identity of the kubeconfig's token: a cluster admin, as `system:admin` on OpenShift.
pub(crate) fn admin_user() -> UserInfo {
    UserInfo {
        username: "system:admin".to_owned(),
        uid: String::new(),
        groups: vec![
            "system:masters".to_owned(),
            "system:authenticated".to_owned(),
        ],
        extra: Default::default(),
    }
}
