//! Leader election with a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! publishes the `UpgradeStatus` and reports ready (the Service then sends producers to it).
//!
//! kube 5 has no leader election, and the crates that offer one either judge expiry by the
//! holder's clock or do not track kube 5; this follows client-go's `leaderelection` instead:
//! - The Lease record holds `holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`
//!   (MicroTime) and `leaseTransitions`.
//! - Expiry is judged by the local time at which this instance last saw the record *change*, plus
//!   the record's duration, never by the timestamps in it: clocks of different pods may disagree.
//! - A candidate creates the Lease when absent (409: another won) and takes it over when its
//!   holder is empty or expired, by a replace carrying the resourceVersion it read (409: lost the
//!   race). Candidates retry every 80–100 % of the retry period (the spread keeps two candidates
//!   from colliding forever, and never waiting longer than the period bounds a takeover after a
//!   crash by the lease duration plus two retry periods).
//! - The leader renews every retry period. It stops leading when no renewal *started* within the
//!   renew deadline has succeeded (the others cannot take over before the lease duration, which
//!   is longer, has passed since they saw that renewal), or at once when it sees another holder.
//! - On a graceful stop it steps down first, then writes the Lease with an empty holder and a
//!   one-second duration so another instance takes over at its next retry.
//!
//! API errors are logged (the Status message, never a credential) and retried at the retry
//! period; nothing here panics.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The Lease's default name: one election per controller deployment.
pub const DEFAULT_LEASE_NAME: &str = "update-status-controller";

/// The field manager of the Lease writes, so `managedFields` say who wrote it.
const FIELD_MANAGER: &str = "update-status-controller";

/// Where and how to elect; [`LeaseConfig::new`] fills client-go's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the controller's own).
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This instance's `holderIdentity`; unique per process so a restarted pod is a new holder.
    pub identity: String,
    /// How long a holder's claim lasts without renewal (written in whole seconds, rounded up).
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal; shorter than the lease
    /// duration, so it stops before anyone else may start.
    pub renew_deadline: Duration,
    /// How often the leader renews and a candidate tries to acquire.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Defaults as client-go's: Lease [`DEFAULT_LEASE_NAME`], 15 s duration, 10 s renew deadline,
    /// 2 s retry period, identity `POD_NAME_<random>`.
    pub fn new(namespace: impl Into<String>, pod_name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: DEFAULT_LEASE_NAME.to_owned(),
            identity: random_identity(pod_name),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks the relations client-go enforces, which are what make one leader at a time hold:
    /// duration > renew deadline > 1.2 × retry period > 0, a duration of at least one second
    /// (the Lease stores whole seconds), and non-empty names.
    pub fn validate(&self) -> Result<(), LeaseError> {
        let invalid = |why: &str| Err(LeaseError::InvalidConfig(why.to_owned()));
        if self.namespace.is_empty() || self.name.is_empty() || self.identity.is_empty() {
            return invalid("the Lease namespace, name and holder identity must not be empty");
        }
        if self.retry_period.is_zero() {
            return invalid("the retry period must be positive");
        }
        if self.lease_duration < Duration::from_secs(1) {
            return invalid("the lease duration must be at least one second");
        }
        if self.lease_duration <= self.renew_deadline {
            return invalid("the lease duration must be longer than the renew deadline");
        }
        if self.renew_deadline <= self.retry_period.mul_f64(1.2) {
            return invalid("the renew deadline must be longer than 1.2 times the retry period");
        }
        if i32::try_from(self.lease_duration.as_secs()).is_err() {
            return invalid("the lease duration is too long");
        }
        Ok(())
    }

    /// `leaseDurationSeconds`: rounded up, so the claim written never undercuts the one used.
    fn lease_duration_seconds(&self) -> i32 {
        let d = self.lease_duration;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }
}

/// Random bits for identities and retry spread; falls back to the clock if the system source fails.
fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) ^ (u64::from(std::process::id()) << 32)
}

/// `POD_NAME_<16 hex digits>`: client-go's `hostname_uuid` shape. The suffix makes a restarted
/// process a new holder, so it never mistakes its predecessor's claim for its own.
pub fn random_identity(pod_name: &str) -> String {
    format!("{pod_name}_{:016x}", random_u64())
}

/// Why an election step failed; the elector logs it and retries.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The settings cannot give one leader at a time.
    #[error("invalid leader election settings: {0}")]
    InvalidConfig(String),
    /// A request on the Lease failed.
    #[error("cannot {verb} Lease {lease}: {source}")]
    Api {
        /// get, create or update.
        verb: &'static str,
        /// `namespace/name`.
        lease: String,
        /// The client's error (a Status from the server, or a transport failure).
        #[source]
        source: kube::Error,
    },
}

/// The Lease record as last seen, and when it last changed by this instance's clock.
struct Observed {
    /// The object as last read or written: its resourceVersion guards the next write.
    lease: Lease,
    spec: LeaseSpec,
    changed_at: Instant,
}

impl Observed {
    fn holder(&self) -> &str {
        self.spec.holder_identity.as_deref().unwrap_or_default()
    }

    /// Whether the claim in the record still stands, judged by local observation time.
    fn is_valid(&self, now: Instant) -> bool {
        let secs = u64::try_from(self.spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0);
        self.changed_at + Duration::from_secs(secs) > now
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Runs the election for one instance. Create it, [`subscribe`](Self::subscribe), then
/// [`run`](Self::run) it on its own task.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
    leader: watch::Sender<bool>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .field("leading", &*self.leader.borrow())
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for the Lease `config` names, not yet leading; fails on settings that could
    /// let two instances lead at once.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Result<Self, LeaseError> {
        config.validate()?;
        Ok(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            leader: watch::Sender::new(false),
        })
    }

    /// Whether this instance leads, now and on every change: what gates publishing and
    /// readiness. It reads `false` once the elector has stopped, even if its task was aborted.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// This instance's `holderIdentity`, for logs and status.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.config.namespace, self.config.name)
    }

    fn api_error(&self, verb: &'static str, source: kube::Error) -> LeaseError {
        LeaseError::Api {
            verb,
            lease: self.lease_ref(),
            source,
        }
    }

    fn set_leader(&self, leading: bool) {
        self.leader.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
    }

    /// Records what this instance just read, restarting the expiry clock only if it changed.
    fn observe(&mut self, lease: Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        match &mut self.observed {
            Some(observed) if observed.spec == spec => observed.lease = lease,
            _ => {
                let previous = self.observed.as_ref().map(|o| o.holder().to_owned());
                let holder = spec.holder_identity.clone().unwrap_or_default();
                if previous.as_deref() != Some(holder.as_str()) {
                    tracing::info!(lease = %self.lease_ref(), %holder, "leader election: the Lease holder changed");
                }
                self.observed = Some(Observed {
                    lease,
                    spec,
                    changed_at: Instant::now(),
                });
            }
        }
    }

    fn params() -> PostParams {
        PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        }
    }

    /// Writes `spec` over `base` (which carries the resourceVersion last seen).
    async fn replace(&self, mut base: Lease, spec: LeaseSpec) -> Result<Lease, kube::Error> {
        base.spec = Some(spec);
        self.api
            .replace(&self.config.name, &Self::params(), &base)
            .await
    }

    /// One step of client-go's `tryAcquireOrRenew`: `Ok(true)` when this instance holds the
    /// Lease after it, `Ok(false)` when another does (or won a race), `Err` when the API failed.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = MicroTime(Timestamp::now());
        let identity = self.config.identity.clone();
        let mut spec = LeaseSpec {
            holder_identity: Some(identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration_seconds()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        };

        // 1. The leader renews optimistically with the record it wrote last.
        if let Some(observed) = &self.observed
            && observed.holder() == identity
            && observed.is_valid(Instant::now())
        {
            spec.acquire_time = observed.spec.acquire_time.clone();
            spec.lease_transitions = observed.spec.lease_transitions;
            let base = observed.lease.clone();
            match self.replace(base, spec.clone()).await {
                Ok(written) => {
                    self.observe(written);
                    return Ok(true);
                }
                Err(e) => {
                    tracing::debug!(lease = %self.lease_ref(), error = %e, "leader election: optimistic renewal failed; reading the Lease");
                }
            }
        }

        // 2. Read the record, or create it.
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.api_error("get", e))?;
        let Some(current) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            return match self.api.create(&Self::params(), &lease).await {
                Ok(created) => {
                    self.observe(created);
                    Ok(true)
                }
                // Another candidate created it first.
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(self.api_error("create", e)),
            };
        };

        // 3. Someone else's claim that still stands: wait.
        self.observe(current);
        let Some(observed) = &self.observed else {
            return Ok(false);
        };
        let holder = observed.holder();
        let mine = holder == identity;
        if !holder.is_empty() && !mine && observed.is_valid(Instant::now()) {
            return Ok(false);
        }

        // 4. Renew (keeping acquisition and transitions) or take over (one more transition).
        if mine {
            spec.acquire_time = observed.spec.acquire_time.clone();
            spec.lease_transitions = observed.spec.lease_transitions;
        } else {
            spec.lease_transitions = Some(
                observed
                    .spec
                    .lease_transitions
                    .unwrap_or(0)
                    .saturating_add(1),
            );
        }
        let base = observed.lease.clone();
        match self.replace(base, spec).await {
            Ok(written) => {
                self.observe(written);
                Ok(true)
            }
            // The record changed since it was read: another candidate won.
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.api_error("update", e)),
        }
    }

    /// Gives the Lease up if this instance holds it: empty holder, one-second duration.
    async fn release(&mut self) -> Result<bool, LeaseError> {
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.api_error("get", e))?;
        let Some(current) = current else {
            return Ok(false);
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(false);
        }
        let now = MicroTime(Timestamp::now());
        let released = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: spec.lease_transitions,
            ..LeaseSpec::default()
        };
        match self.replace(current, released).await {
            Ok(written) => {
                self.observe(written);
                Ok(true)
            }
            // Someone else wrote it since: nothing of ours to give up.
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(self.api_error("update", e)),
        }
    }

    /// A candidate's wait: 80–100 % of the retry period.
    fn candidate_wait(&self) -> Duration {
        let fraction = 0.8 + 0.2 * (random_u64() % 1001) as f64 / 1000.0;
        self.config.retry_period.mul_f64(fraction)
    }

    fn step_down(&self, why: &str) {
        tracing::warn!(lease = %self.lease_ref(), identity = %self.config.identity, "leader election: stopped leading: {why}");
        self.set_leader(false);
    }

    /// Campaigns and leads until `shutdown`, then steps down and releases the Lease. Never
    /// returns early: every failure is logged and retried at the retry period.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let renew_deadline = self.config.renew_deadline;
        // While leading: when leadership lapses unless a renewal succeeds first.
        let mut leading_until: Option<Instant> = None;
        loop {
            let started = Instant::now();
            if leading_until.is_some_and(|until| started >= until) {
                leading_until = None;
                self.step_down("no renewal succeeded within the renew deadline");
            }
            let limit = leading_until.map_or(renew_deadline, |until| {
                until.saturating_duration_since(started)
            });
            let attempt = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                attempt = tokio::time::timeout(limit, self.try_acquire_or_renew()) => attempt,
            };
            match attempt {
                Ok(Ok(true)) => {
                    if leading_until.is_none() {
                        tracing::info!(lease = %self.lease_ref(), identity = %self.config.identity, "leader election: became leader");
                    }
                    leading_until = Some(started + renew_deadline);
                    self.set_leader(true);
                }
                Ok(Ok(false)) => {
                    if leading_until.take().is_some() {
                        self.step_down("another instance holds the Lease");
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election: Lease request failed; will retry");
                }
                Err(_) => {
                    tracing::warn!(lease = %self.lease_ref(), timeout = ?limit, "leader election: Lease request timed out; will retry");
                }
            }
            if leading_until.is_some_and(|until| Instant::now() >= until) {
                leading_until = None;
                self.step_down("no renewal succeeded within the renew deadline");
            }
            let wait = if leading_until.is_some() {
                self.config.retry_period
            } else {
                self.candidate_wait()
            };
            let mut wake = Instant::now() + wait;
            if let Some(until) = leading_until {
                wake = wake.min(until);
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        // Stop acting as leader before anyone else can start.
        self.set_leader(false);
        match tokio::time::timeout(renew_deadline, self.release()).await {
            Ok(Ok(true)) => {
                tracing::info!(lease = %self.lease_ref(), "leader election: released the Lease");
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "leader election: releasing the Lease failed; it expires instead");
            }
            Err(_) => {
                tracing::warn!(lease = %self.lease_ref(), "leader election: releasing the Lease timed out; it expires instead");
            }
        }
    }
}

impl Drop for LeaderElector {
    /// An elector that stops, however it stops (its task aborted included), no longer leads.
    fn drop(&mut self) {
        self.leader.send_replace(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaseConfig {
        LeaseConfig::new("ns", "pod-a")
    }

    #[test]
    fn defaults_are_client_gos_and_valid() {
        let c = config();
        assert_eq!(c.name, DEFAULT_LEASE_NAME);
        assert_eq!(
            (c.lease_duration, c.renew_deadline, c.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        assert!(c.validate().is_ok());
        assert!(c.identity.starts_with("pod-a_"));
        assert_eq!(c.identity.len(), "pod-a_".len() + 16);
        assert_ne!(c.identity, config().identity, "identities are unique");
    }

    #[test]
    fn settings_that_allow_two_leaders_are_refused() {
        let mut c = config();
        c.renew_deadline = c.lease_duration;
        assert!(matches!(c.validate(), Err(LeaseError::InvalidConfig(_))));
        let mut c = config();
        c.retry_period = Duration::from_millis(8500);
        assert!(c.validate().is_err());
        let mut c = config();
        c.lease_duration = Duration::from_millis(900);
        c.renew_deadline = Duration::from_millis(500);
        c.retry_period = Duration::from_millis(100);
        assert!(c.validate().is_err());
        let mut c = config();
        c.identity.clear();
        assert!(c.validate().is_err());
    }

    #[test]
    fn duration_is_written_in_whole_seconds_rounded_up() {
        let mut c = config();
        assert_eq!(c.lease_duration_seconds(), 15);
        c.lease_duration = Duration::from_millis(2100);
        assert_eq!(c.lease_duration_seconds(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_runs_from_the_local_observation_not_the_record() {
        let stale = MicroTime(Timestamp::UNIX_EPOCH);
        let observed = Observed {
            lease: Lease::default(),
            spec: LeaseSpec {
                holder_identity: Some("other".into()),
                lease_duration_seconds: Some(2),
                renew_time: Some(stale),
                ..LeaseSpec::default()
            },
            changed_at: Instant::now(),
        };
        // A renewTime decades old (another pod's clock) does not make the claim expired.
        assert!(observed.is_valid(Instant::now()));
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(observed.is_valid(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!observed.is_valid(Instant::now()));
    }
}
