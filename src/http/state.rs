//! What the informer API handlers share.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use crate::clock::Clock;
use tokio::sync::Notify;

use super::metrics::Metrics;
use super::ratelimit::RateLimiter;
use super::refusals::RefusalLimiter;
use crate::auth::scrape::ScrapeAccess;
use crate::auth::{AccessReviewer, Authenticator};
use crate::informers::Registry;
use crate::informers::observed::Observed;
use crate::informers::paging::Staging;
use crate::store::Store;

/// Limits the API enforces on top of the transport's.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest report body.
    pub max_body_bytes: usize,
    /// Most insights in one request (a whole report, or one page).
    pub max_insights_per_report: usize,
    /// Most insights an informer may hold: a whole report, or all pages of a paged one.
    pub max_insights_per_informer: usize,
}

/// Shared state of the handlers.
pub struct AppState {
    /// Every informer's insights.
    pub store: Arc<Mutex<Store>>,
    /// The UpdateInformers; replaced whole when they change.
    pub registry: RwLock<Arc<Registry>>,
    /// Verifies producer tokens.
    pub authenticator: Arc<dyn Authenticator>,
    /// When set (`--subject-access-review`), a producer must also be allowed `update` on
    /// `updateinformers/insights` for the informer's name, besides being listed in it.
    pub access_reviewer: Option<Arc<AccessReviewer>>,
    /// The audience producer tokens must carry (announced by discovery).
    pub audience: String,
    /// Body and count limits.
    pub limits: ApiLimits,
    /// Usernames allowed to read `/metrics` with a token for our audience.
    pub metrics_readers: Vec<String>,
    /// In a cluster: scrapers presenting their own token (the API server's audience), as the
    /// platform Prometheus does, allowed by RBAC (`get` on `/metrics`).
    pub scrape: Option<Arc<ScrapeAccess>>,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-identity report rate limit.
    pub rate: RateLimiter,
    /// Per-identity read-back (`GET .../insights`) rate limit.
    pub read_rate: RateLimiter,
    /// Per-identity `/metrics` rate limit.
    pub metrics_rate: RateLimiter,
    /// Per-source budget of refused tokens (401), checked before any token work.
    pub refusals: RefusalLimiter,
    /// Woken when the store changes, so the publisher writes.
    pub changed: Arc<Notify>,
    /// True once the controller can accept and publish.
    pub ready: AtomicBool,
    /// The clock (tests pass a fixed one).
    pub clock: Clock,
    /// Refusals and omissions per informer, for the UpdateInformer statuses.
    pub observed: Observed,
    /// The pages of paged reports not yet complete.
    pub staging: Staging,
}

impl AppState {
    /// The current registry.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }

    /// Replaces the registry (UpdateInformers changed), and tells the authenticator whose
    /// tokens get the reserved TokenReview slots.
    pub fn set_registry(&self, registry: Registry) {
        self.authenticator
            .set_priority_subjects(self.priority_subjects(&registry));
        if let Ok(mut r) = self.registry.write() {
            *r = Arc::new(registry);
        }
    }

    /// The usernames whose verified tokens review in the reserved pool: every producer any
    /// UpdateInformer lists (enabled or not: a disabled one is still a known party), and the
    /// metrics readers.
    pub fn priority_subjects(&self, registry: &Registry) -> HashSet<String> {
        registry
            .iter()
            .flat_map(|(_, informer)| informer.spec.producers.iter())
            .map(|producer| producer.service_account.username())
            .chain(self.metrics_readers.iter().cloned())
            .collect()
    }
}
