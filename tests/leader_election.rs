//! Leader election against the fake API server, with the real kube client: one leader at a time,
//! handover on a graceful stop, takeover after a crash, stepping down when the API server is
//! unreachable, and candidates racing for the same Lease.
//!
//! Short settings keep the suite fast: 2 s lease, 1.5 s renew deadline, 0.3 s retry period.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use fake_apiserver::{FakeApiServer, FakeConfig};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use update_status_controller::publish::lease::{DEFAULT_LEASE_NAME, LeaderElector, LeaseConfig};

const NAMESPACE: &str = "openshift-update-status";
const LEASE: &str = "leases.coordination.k8s.io";
const DURATION: Duration = Duration::from_secs(2);
const RENEW_DEADLINE: Duration = Duration::from_millis(1500);
const RETRY: Duration = Duration::from_millis(300);
/// Request latency and scheduling on a busy two-core machine, on top of the protocol's bounds.
const SLACK: Duration = Duration::from_millis(250);

async fn setup() -> (FakeApiServer, kube::Client) {
    let server = FakeApiServer::start(FakeConfig::default()).await.unwrap();
    server
        .put_object(
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE } }),
        )
        .unwrap();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    (server, client)
}

struct Running {
    identity: String,
    leading: watch::Receiver<bool>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    fn leads(&self) -> bool {
        *self.leading.borrow()
    }
}

fn spawn(client: &kube::Client, pod: &str) -> Running {
    let mut config = LeaseConfig::new(NAMESPACE, pod);
    config.lease_duration = DURATION;
    config.renew_deadline = RENEW_DEADLINE;
    config.retry_period = RETRY;
    let elector = LeaderElector::new(client.clone(), config).unwrap();
    let identity = elector.identity().to_owned();
    let leading = elector.subscribe();
    let stop = CancellationToken::new();
    let task = tokio::spawn(elector.run(stop.clone()));
    Running {
        identity,
        leading,
        stop,
        task,
    }
}

fn leaders(electors: &[&Running]) -> Vec<usize> {
    (0..electors.len())
        .filter(|&i| electors[i].leads())
        .collect()
}

/// Waits until exactly one of `electors` leads; returns its index and when that was seen. Fails if
/// two ever lead at once while waiting.
async fn one_leader(electors: &[&Running], within: Duration) -> (usize, Instant) {
    let deadline = Instant::now() + within;
    loop {
        let now = leaders(electors);
        assert!(now.len() <= 1, "two leaders at once: {now:?}");
        if let [i] = now.as_slice() {
            return (*i, Instant::now());
        }
        assert!(Instant::now() < deadline, "no leader within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn lease(server: &FakeApiServer) -> Value {
    server
        .get_object(LEASE, Some(NAMESPACE), DEFAULT_LEASE_NAME)
        .expect("the Lease exists")
}

fn spec_str(lease: &Value, field: &str) -> String {
    lease["spec"][field].as_str().unwrap_or_default().to_owned()
}

fn micro_time(lease: &Value, field: &str) -> jiff::Timestamp {
    let text = spec_str(lease, field);
    // MicroTime: RFC 3339, UTC, exactly six fractional digits.
    assert!(
        text.len() == 27 && text.as_bytes()[19] == b'.' && text.ends_with('Z'),
        "{field} is not a MicroTime: {text:?}"
    );
    text.parse().unwrap()
}

async fn stop(elector: Running) {
    elector.stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), elector.task)
        .await
        .expect("run returns after shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_electors_have_exactly_one_leader_at_any_time() {
    let (server, client) = setup().await;
    let a = spawn(&client, "pod-a");
    let b = spawn(&client, "pod-b");
    let (first, _) = one_leader(&[&a, &b], Duration::from_secs(2)).await;

    // Sample for 3 s (several lease durations): never two, never none, never a change.
    let end = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]), [first], "after {samples} samples");
        samples += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(samples > 100, "{samples} samples");

    let leader = [&a, &b][first];
    let record = lease(&server);
    assert_eq!(spec_str(&record, "holderIdentity"), leader.identity);
    assert_eq!(record["spec"]["leaseDurationSeconds"], 2);
    assert_eq!(record["spec"]["leaseTransitions"], 0, "nobody took over");
    let acquired = micro_time(&record, "acquireTime");
    let renewed = micro_time(&record, "renewTime");
    assert!(renewed > acquired, "renewals move renewTime only");
    let age = jiff::Timestamp::now().duration_since(renewed);
    assert!(
        age < jiff::SignedDuration::try_from(RETRY + SLACK).unwrap(),
        "renewed every retry period (last {age:?} ago)"
    );
    // Renewals, not a storm: about one update per retry period.
    let updates = server.count(|r| r.verb == "update" && r.status == 200);
    assert!((8..=20).contains(&updates), "{updates} renewals in ~3.3 s");
    stop(a).await;
    stop(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_releases_and_the_other_takes_over_at_once() {
    let (server, client) = setup().await;
    let mut electors = vec![spawn(&client, "pod-a"), spawn(&client, "pod-b")];
    let (first, _) = one_leader(&[&electors[0], &electors[1]], Duration::from_secs(2)).await;
    let leader = electors.remove(first);
    let other = electors.remove(0);
    let leading = leader.leading.clone();

    let stopped = Instant::now();
    stop(leader).await;
    assert!(!*leading.borrow(), "a stopped elector does not lead");
    let (_, took_over) = one_leader(&[&other], Duration::from_secs(2)).await;
    let handover = took_over - stopped;
    eprintln!("graceful handover: {handover:?}");
    assert!(
        handover < Duration::from_secs(1),
        "handover took {handover:?}"
    );
    assert_eq!(spec_str(&lease(&server), "holderIdentity"), other.identity);
    assert_eq!(lease(&server)["spec"]["leaseTransitions"], 1);

    // The last one out leaves the Lease free: empty holder, one-second duration.
    stop(other).await;
    let record = lease(&server);
    assert_eq!(spec_str(&record, "holderIdentity"), "");
    assert_eq!(record["spec"]["leaseDurationSeconds"], 1);
    assert_eq!(record["spec"]["leaseTransitions"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_after_the_lease_duration() {
    let (server, client) = setup().await;
    let mut electors = vec![spawn(&client, "pod-a"), spawn(&client, "pod-b")];
    let (first, _) = one_leader(&[&electors[0], &electors[1]], Duration::from_secs(2)).await;
    let leader = electors.remove(first);
    let other = electors.remove(0);
    let leading = leader.leading.clone();

    // A crash: no release, the Lease keeps the dead holder.
    leader.task.abort();
    let killed = Instant::now();
    assert!(leader.task.await.unwrap_err().is_cancelled());
    assert!(!*leading.borrow(), "an aborted elector does not lead");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let last = lease(&server);
    assert_eq!(spec_str(&last, "holderIdentity"), leader.identity);
    let last_renewal = micro_time(&last, "renewTime");

    let (_, took_over) = one_leader(&[&other], DURATION * 2).await;
    let wall = jiff::Timestamp::now();
    let after = took_over - killed;
    eprintln!(
        "takeover after crash: {after:?} after the kill, {:?} after the last renewal",
        wall.duration_since(last_renewal)
    );
    assert!(
        after <= DURATION + RETRY * 2 + SLACK,
        "took over {after:?} after the crash"
    );
    assert!(
        wall.duration_since(last_renewal) >= jiff::SignedDuration::try_from(DURATION).unwrap(),
        "took over only {:?} after the dead leader's last renewal",
        wall.duration_since(last_renewal)
    );
    let record = lease(&server);
    assert_eq!(spec_str(&record, "holderIdentity"), other.identity);
    assert_eq!(record["spec"]["leaseTransitions"], 1);
    stop(other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_steps_down_within_the_renew_deadline_when_the_api_server_is_unreachable() {
    let (server, client) = setup().await;
    let a = spawn(&client, "pod-a");
    let b = spawn(&client, "pod-b");
    let (first, _) = one_leader(&[&a, &b], Duration::from_secs(2)).await;
    let leader = [&a, &b][first];

    server.set_unreachable(true);
    let cut = Instant::now();
    while leader.leads() {
        assert!(
            cut.elapsed() < RENEW_DEADLINE + SLACK,
            "still leading {:?} after the API server went away",
            cut.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stepped_down = cut.elapsed();
    eprintln!("stepped down {stepped_down:?} after the API server went away");
    // It keeps leading through failed renewals until the deadline, not at the first error: the
    // last renewal that succeeded started at most a retry period before the cut.
    assert!(
        stepped_down + RETRY + SLACK >= RENEW_DEADLINE,
        "stepped down after only {stepped_down:?}"
    );
    // Nobody can reach the Lease, so nobody leads.
    tokio::time::sleep(DURATION).await;
    assert_eq!(leaders(&[&a, &b]), Vec::<usize>::new());

    // Back: one of them leads again.
    server.set_unreachable(false);
    one_leader(&[&a, &b], DURATION + RETRY * 2 + Duration::from_secs(1)).await;
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop(a).await;
    stop(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_racing_for_the_same_lease_end_with_one_leader() {
    let (server, client) = setup().await;
    // Latency makes the race certain: both read before either writes.
    server.set_latency(Duration::from_millis(100));

    // An absent Lease: both create, one gets 409 AlreadyExists.
    let a = spawn(&client, "pod-a");
    let b = spawn(&client, "pod-b");
    one_leader(&[&a, &b], Duration::from_secs(2)).await;
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.count(|r| r.verb == "create" && r.status == 201), 1);
    assert_eq!(server.count(|r| r.verb == "create" && r.status == 409), 1);
    assert_eq!(lease(&server)["spec"]["leaseTransitions"], 0);
    stop(a).await;
    stop(b).await;
    assert_eq!(spec_str(&lease(&server), "holderIdentity"), "");

    // A released Lease: both replace with the resourceVersion they read; one gets 409 Conflict.
    server.clear_requests();
    let c = spawn(&client, "pod-c");
    let d = spawn(&client, "pod-d");
    one_leader(&[&c, &d], Duration::from_secs(2)).await;
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert_eq!(leaders(&[&c, &d]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(server.count(|r| r.verb == "update" && r.status == 409) >= 1);
    assert_eq!(
        lease(&server)["spec"]["leaseTransitions"],
        1,
        "exactly one takeover: the loser did not overwrite the winner"
    );
    stop(c).await;
    stop(d).await;
}
