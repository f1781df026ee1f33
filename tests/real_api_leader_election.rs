//! Leader election with the real kube client: one leader at a time, handover on a graceful stop,
//! takeover after a crash, stepping down when the API server is unreachable, and candidates
//! racing for the same Lease.
//!
//! What runs where, and why:
//! - On a real kube-apiserver (`tests/envtest`, `KUBEBUILDER_ASSETS`; skipped without it, failed
//!   under `CI=true`): one leader at a time, graceful handover and takeover after a crash, on the
//!   control plane this binary shares, each test in a namespace of its own so no two share a
//!   Lease; the Lease is read back as the server stores it (`coordination.k8s.io/v1`, the
//!   k8s-openapi type), and renewals are counted as the server's watch reports them. The server
//!   also judges every write: its optimistic concurrency, and MicroTime parsing (it refuses a
//!   `renewTime` without exactly six fractional digits). Stepping down when the API server is
//!   unreachable runs on a control plane of its own, whose kube-apiserver is killed and started
//!   again (about 5 s more for the second control plane).
//! - On the in-process fake (`tests/fake-apiserver`): only candidates racing for the same Lease.
//!   The race is made certain by delaying every answer (both candidates read before either
//!   writes), and the proof is the count of 201 and 409 answers; a real server can be made to do
//!   neither on demand.
//!
//! Short settings keep the suite fast: 2 s lease, 1.5 s renew deadline, 0.3 s retry period.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use envtest::ControlPlane;
use fake_apiserver::{FakeApiServer, FakeConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use update_status_controller::publish::lease::{DEFAULT_LEASE_NAME, LeaderElector, LeaseConfig};

const DURATION: Duration = Duration::from_secs(2);
const RENEW_DEADLINE: Duration = Duration::from_millis(1500);
const RETRY: Duration = Duration::from_millis(300);
/// Request latency and scheduling on a busy two-core machine, on top of the protocol's bounds.
const SLACK: Duration = Duration::from_millis(250);
/// The longest any single request of the tests themselves may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// `future`, failing the test if it takes longer than [`REQUEST_LIMIT`].
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(REQUEST_LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {REQUEST_LIMIT:?}"))
}

/// A namespace of `cp`, created for one test, and an admin client bound to this test's runtime.
async fn real_namespace(cp: &ControlPlane, namespace: &str) -> kube::Client {
    let client = bounded("building a client", cp.client()).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    bounded(
        "creating the namespace",
        namespaces.patch(
            namespace,
            &PatchParams::apply("leader-election-test").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}
            })),
        ),
    )
    .await
    .unwrap();
    client
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

fn spawn(client: &kube::Client, namespace: &str, pod: &str) -> Running {
    let mut config = LeaseConfig::new(namespace, pod);
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

/// The Lease of `namespace` as the real server stores it.
async fn lease(client: &kube::Client, namespace: &str) -> Lease {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    bounded("reading the Lease", api.get(DEFAULT_LEASE_NAME))
        .await
        .expect("the Lease exists")
}

fn spec(lease: &Lease) -> &LeaseSpec {
    lease.spec.as_ref().expect("the Lease has a spec")
}

fn holder(lease: &Lease) -> &str {
    spec(lease).holder_identity.as_deref().unwrap_or_default()
}

fn renew_time(lease: &Lease) -> Timestamp {
    spec(lease).renew_time.as_ref().expect("renewTime is set").0
}

fn acquire_time(lease: &Lease) -> Timestamp {
    spec(lease)
        .acquire_time
        .as_ref()
        .expect("acquireTime is set")
        .0
}

/// Counts the writes of the Lease that the server's watch reports, from `resource_version` on,
/// until `done` is cancelled.
fn count_writes(
    client: &kube::Client,
    namespace: &str,
    resource_version: String,
    done: CancellationToken,
) -> JoinHandle<usize> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    tokio::spawn(async move {
        let params = WatchParams::default()
            .fields(&format!("metadata.name={DEFAULT_LEASE_NAME}"))
            .timeout(30);
        let mut events = bounded("starting the watch", api.watch(&params, &resource_version))
            .await
            .unwrap()
            .boxed();
        let mut writes = 0;
        loop {
            let event = tokio::select! {
                () = done.cancelled() => return writes,
                event = events.try_next() => event.unwrap(),
            };
            match event {
                Some(WatchEvent::Modified(_)) => writes += 1,
                Some(WatchEvent::Bookmark(_)) => {}
                other => panic!("unexpected watch event of the Lease: {other:?}"),
            }
        }
    })
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
    let Some(cp) = envtest::shared() else { return };
    let ns = "le-one-leader";
    let client = real_namespace(cp, ns).await;
    let a = spawn(&client, ns, "pod-a");
    let b = spawn(&client, ns, "pod-b");
    let (first, _) = one_leader(&[&a, &b], Duration::from_secs(2)).await;
    let done = CancellationToken::new();
    let start_version = lease(&client, ns).await.metadata.resource_version.unwrap();
    let writes = count_writes(&client, ns, start_version, done.clone());

    // Sample for 3 s (several lease durations): never two, never none, never a change.
    let sampling = Instant::now();
    let end = sampling + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]), [first], "after {samples} samples");
        samples += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(samples > 100, "{samples} samples");

    let leader = [&a, &b][first];
    let record = lease(&client, ns).await;
    done.cancel();
    let window = sampling.elapsed();
    assert_eq!(holder(&record), leader.identity);
    assert_eq!(spec(&record).lease_duration_seconds, Some(2));
    assert_eq!(spec(&record).lease_transitions, Some(0), "nobody took over");
    let acquired = acquire_time(&record);
    let renewed = renew_time(&record);
    assert!(renewed > acquired, "renewals move renewTime only");
    let age = Timestamp::now().duration_since(renewed);
    assert!(
        age < SignedDuration::try_from(RETRY + SLACK).unwrap(),
        "renewed every retry period (last {age:?} ago)"
    );
    // Renewals, not a storm: about one write per retry period (10 in 3 s), as the server's
    // watch saw them; fewer on a loaded machine, where a renewal's round trip adds to the period.
    let updates = bounded("the watch", writes).await.unwrap();
    eprintln!("{updates} renewals in {window:?}");
    assert!(
        (5..=20).contains(&updates),
        "{updates} renewals in {window:?}"
    );
    stop(a).await;
    stop(b).await;
}

/// Two electors in `ns`, once one of them leads: (the leader, the other).
async fn leader_and_follower(client: &kube::Client, ns: &str) -> (Running, Running) {
    let mut electors = vec![spawn(client, ns, "pod-a"), spawn(client, ns, "pod-b")];
    let (first, _) = one_leader(&[&electors[0], &electors[1]], Duration::from_secs(2)).await;
    let leader = electors.remove(first);
    (leader, electors.remove(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_releases_and_the_other_takes_over_at_once() {
    let Some(cp) = envtest::shared() else { return };
    let ns = "le-graceful";
    let client = real_namespace(cp, ns).await;
    let (leader, other) = leader_and_follower(&client, ns).await;
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
    let record = lease(&client, ns).await;
    assert_eq!(holder(&record), other.identity);
    assert_eq!(spec(&record).lease_transitions, Some(1));

    // The last one out leaves the Lease free: empty holder, one-second duration.
    stop(other).await;
    let record = lease(&client, ns).await;
    assert_eq!(holder(&record), "");
    assert_eq!(spec(&record).lease_duration_seconds, Some(1));
    assert_eq!(spec(&record).lease_transitions, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_after_the_lease_duration() {
    let Some(cp) = envtest::shared() else { return };
    let ns = "le-killed";
    let client = real_namespace(cp, ns).await;
    let (leader, other) = leader_and_follower(&client, ns).await;
    let leading = leader.leading.clone();

    // A crash: no release, the Lease keeps the dead holder.
    leader.task.abort();
    let killed = Instant::now();
    assert!(leader.task.await.unwrap_err().is_cancelled());
    assert!(!*leading.borrow(), "an aborted elector does not lead");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let last = lease(&client, ns).await;
    assert_eq!(holder(&last), leader.identity);
    let last_renewal = renew_time(&last);

    let (_, took_over) = one_leader(&[&other], DURATION * 2).await;
    let wall = Timestamp::now();
    let after = took_over - killed;
    eprintln!(
        "takeover after crash: {after:?} after the kill, {:?} after the last renewal",
        wall.duration_since(last_renewal)
    );
    // A second of slack, not SLACK: every step here is a real API call, and CI runs other
    // control planes on the same two cores.
    assert!(
        after <= DURATION + RETRY * 2 + Duration::from_secs(1),
        "took over {after:?} after the crash"
    );
    assert!(
        wall.duration_since(last_renewal) >= SignedDuration::try_from(DURATION).unwrap(),
        "took over only {:?} after the dead leader's last renewal",
        wall.duration_since(last_renewal)
    );
    let record = lease(&client, ns).await;
    assert_eq!(holder(&record), other.identity);
    assert_eq!(spec(&record).lease_transitions, Some(1));
    stop(other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_steps_down_within_the_renew_deadline_when_the_api_server_is_unreachable() {
    // A control plane of its own: its API server is stopped, which the others must not see.
    let Some(cp) = tokio::task::spawn_blocking(envtest::own).await.unwrap() else {
        return;
    };
    let cp = std::sync::Arc::new(cp);
    let ns = "le-unreachable";
    let client = real_namespace(&cp, ns).await;
    let a = spawn(&client, ns, "pod-a");
    let b = spawn(&client, ns, "pod-b");
    let (first, _) = one_leader(&[&a, &b], Duration::from_secs(2)).await;
    let leader = [&a, &b][first];

    // Killed: connections reset, new ones refused.
    let cut = Instant::now();
    cp.stop_apiserver().unwrap();
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

    // Back (ready after a few seconds, bounded by the harness): one of them leads again.
    let restarting = std::sync::Arc::clone(&cp);
    let restarted = Instant::now();
    tokio::task::spawn_blocking(move || restarting.start_apiserver())
        .await
        .unwrap()
        .unwrap();
    eprintln!("API server ready again after {:?}", restarted.elapsed());
    one_leader(&[&a, &b], DURATION + RETRY * 2 + Duration::from_secs(1)).await;
    let end = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop(a).await;
    stop(b).await;
    let record = lease(&client, ns).await;
    assert_eq!(holder(&record), "", "the last one out released the Lease");
}

/// The fake API server with the controller's namespace, and a client of it.
async fn fake() -> (FakeApiServer, kube::Client) {
    let server = FakeApiServer::start(FakeConfig::default()).await.unwrap();
    server
        .put_object(
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": FAKE_NAMESPACE } }),
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

const FAKE_NAMESPACE: &str = "openshift-update-status";

fn fake_lease(server: &FakeApiServer) -> Value {
    server
        .get_object(
            "leases.coordination.k8s.io",
            Some(FAKE_NAMESPACE),
            DEFAULT_LEASE_NAME,
        )
        .expect("the Lease exists")
}

/// On the fake: it needs answers delayed on demand and a count of 409s (see the file's comment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_racing_for_the_same_lease_end_with_one_leader() {
    let (server, client) = fake().await;
    // Latency makes the race certain: both read before either writes, unless one candidate's
    // first request starts a whole latency after the other's. The real control planes of this
    // binary start at the same moment and load both cores, so the delay is the retry period
    // rather than a shorter one that a busy scheduler can outlast.
    server.set_latency(RETRY);

    // An absent Lease: both create, one gets 409 AlreadyExists.
    let a = spawn(&client, FAKE_NAMESPACE, "pod-a");
    let b = spawn(&client, FAKE_NAMESPACE, "pod-b");
    one_leader(&[&a, &b], Duration::from_secs(2)).await;
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert_eq!(leaders(&[&a, &b]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.count(|r| r.verb == "create" && r.status == 201), 1);
    assert_eq!(server.count(|r| r.verb == "create" && r.status == 409), 1);
    assert_eq!(fake_lease(&server)["spec"]["leaseTransitions"], 0);
    stop(a).await;
    stop(b).await;
    assert_eq!(fake_lease(&server)["spec"]["holderIdentity"], "");

    // A released Lease: both replace with the resourceVersion they read; one gets 409 Conflict.
    server.clear_requests();
    let c = spawn(&client, FAKE_NAMESPACE, "pod-c");
    let d = spawn(&client, FAKE_NAMESPACE, "pod-d");
    one_leader(&[&c, &d], Duration::from_secs(2)).await;
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert_eq!(leaders(&[&c, &d]).len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(server.count(|r| r.verb == "update" && r.status == 409) >= 1);
    assert_eq!(
        fake_lease(&server)["spec"]["leaseTransitions"],
        1,
        "exactly one takeover: the loser did not overwrite the winner"
    );
    stop(c).await;
    stop(d).await;
}
