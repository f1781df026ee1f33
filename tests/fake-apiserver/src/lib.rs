//! An in-process fake Kubernetes API server for the controller's integration tests and benchmarks.
//!
//! **Only for faults a real server cannot be made to produce on demand.** Everything else is
//! proven on a real kube-apiserver (`tests/envtest`, the `real_api_*` tests): this fake once
//! accepted a CRD whose CEL cost the real server refuses, answered a JWKS request the real server
//! answers with 406, and stored objects etcd refuses as too large. What still uses it, and why:
//! - `tests/kube_mode.rs`: exact counts of the TokenReviews and status writes the controller
//!   sends (the request log), and an API server made unreachable mid-test;
//! - `tests/real_api_leader_election.rs` (its one Lease-race test): every answer delayed so two candidates read
//!   before either writes, and the 201/409 answers counted;
//! - `tests/security_logs.rs`: TokenReview answering 500 and the server unreachable, on every
//!   authentication path, at TRACE;
//! - `tests/security_token_flood.rs`: TokenReviews answered slowly, to show the in-flight cap;
//! - `benches/kube_5000.rs`: the controller's memory at 5,000 nodes without an API server
//!   competing for the same two cores.
//!
//! It listens on 127.0.0.1 (a fresh port, a fresh CA) over TLS and is reached with the real `kube`
//! client through the kubeconfig it writes, so the code under test runs its production client
//! path. Where a controller depends on behaviour, the fake behaves as the real server does: list
//! pagination and resourceVersion semantics, watch (bookmarks, streaming lists, 410 after
//! compaction), metadata-only responses (`Accept: ...;as=PartialObjectMetadata[List]`, as
//! `Api<PartialObjectMeta<K>>` asks), optimistic concurrency, the status subresource, server-side
//! apply with field ownership and conflicts, TokenReview audience rules, SubjectAccessReview,
//! `Status` error bodies. On top, tests get what a real server cannot give: injected faults and latency, an unreachable
//! switch, a log of every request, how many requests per path were outstanding at once, and
//! direct access to the stored objects.
//!
//! ```no_run
//! # async fn demo() -> fake_apiserver::Result<()> {
//! let server = fake_apiserver::FakeApiServer::start(Default::default()).await?;
//! // KUBECONFIG=server.kubeconfig_path(), or kube::Config::from_custom_kubeconfig(...)
//! server.fail_next(1, 500);
//! # Ok(()) }
//! ```
//!
//! Simplifications, and why a controller that lists/watches, applies its status with one field
//! manager, reviews tokens and elects a leader with a Lease cannot tell the difference:
//! - Server-side apply tracks ownership per leaf of nested maps and treats every list as atomic;
//!   the real server merges `listType=map`/`set` lists item by item. With one manager owning a
//!   list, both store exactly the list that manager applied.
//! - No admission, defaulting or schema validation; only pruning, for CRDs registered with
//!   [`FakeApiServer::register_crd_yaml`]. Validation failures are loud on a real cluster; pruning
//!   is the silent one, so that is the one modelled.
//! - `generation` is kept for every resource (the real server keeps it for most, not e.g. Leases);
//!   nothing depends on a Lease's generation.
//! - No garbage collection of dependents, and deleting a namespace does not delete its contents:
//!   the controller owns no dependents and never deletes namespaces.
//! - Field selectors: `metadata.name` and `metadata.namespace` only (what every CRD supports).
//! - A `resourceVersion` newer than the store is answered 504 at once (the real server waits up to
//!   ~3 s first); a client only sends one it got from this server.
//! - Strategic merge patch on built-in types is a JSON merge patch (no per-field list strategies).
//! - Client-supplied `managedFields` in a PUT are ignored (the server's are kept).
//! - Responses are JSON whatever the `Accept` header names; a metadata transform is served for
//!   JSON clauses only, and `as=Table` not at all (see the `output` module): kube speaks JSON, and
//!   client-go lists a JSON fallback after protobuf.

#![deny(missing_docs)]

mod apply;
mod crd;
mod error;
mod faults;
mod issuer;
mod kubeconfig;
mod meta;
mod output;
mod registry;
mod requests;
mod rest;
mod reviews;
mod selectors;
mod server;
mod state;
mod status;
mod store;
mod tls;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::NamedTempFile;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};
pub use faults::Fault;
pub use issuer::{ServiceAccountToken, SigningKey};
pub use registry::{Registry, ResourceDef};
pub use requests::RecordedRequest;
pub use reviews::{AccessRule, UserInfo};
pub use status::ApiError;

use crate::faults::Faults;
use crate::issuer::Issuer;
use crate::requests::RequestLog;
use crate::reviews::{TokenEntry, Tokens};
use crate::state::{Shared, lock, read, write};
use crate::store::Store;

/// How a fake server is set up. Every bound has a default a test suite can live with.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Change events kept for watches and paginated lists (older ones expire with 410).
    pub history_limit: usize,
    /// The largest request body accepted (413 beyond); the real server's limit is 3 MiB.
    pub max_body_bytes: usize,
    /// Requests kept in the log (oldest dropped first).
    pub request_log_limit: usize,
    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK (the real server: about 1 min).
    pub bookmark_interval: Duration,
    /// The API server's own audiences: what TokenReview checks when a review names none.
    pub api_audiences: Vec<String>,
    /// The service-account issuer (`iss` of minted tokens, `issuer` of OIDC discovery).
    pub issuer: String,
    /// The key that signs minted tokens.
    pub signing_key: SigningKey,
    /// Namespaces that exist from the start (creating in an absent namespace is a 404, as on a
    /// real cluster).
    pub namespaces: Vec<String>,
    /// The namespace of the kubeconfig's context.
    pub kubeconfig_namespace: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            history_limit: 1000,
            max_body_bytes: 3 * 1024 * 1024,
            request_log_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            api_audiences: vec!["https://kubernetes.default.svc".to_owned()],
            issuer: "https://kubernetes.default.svc".to_owned(),
            signing_key: SigningKey::default(),
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(str::to_owned)
                .to_vec(),
            kubeconfig_namespace: "default".to_owned(),
        }
    }
}

/// A running fake API server. Dropping it stops it.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    kubeconfig_yaml: String,
    kubeconfig_file: NamedTempFile,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

/// Splits `plural.group` (or a core `plural`) into (group, plural).
fn split_resource(resource: &str) -> (&str, &str) {
    match resource.split_once('.') {
        Some((plural, group)) => (group, plural),
        None => ("", resource),
    }
}

impl FakeApiServer {
    /// Starts a server on 127.0.0.1 with a fresh port, CA, admin token and signing key.
    ///
    /// Must be called inside a Tokio runtime: the server runs on it.
    pub async fn start(config: FakeConfig) -> Result<Self> {
        let tls = tls::generate()?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let url = format!("https://127.0.0.1:{}", addr.port());
        let issuer = Issuer::new(&config.issuer, &config.signing_key)?;
        let admin_token = meta::random_token();
        let shared = Arc::new(Shared {
            registry: RwLock::new(Registry::builtin()),
            store: Arc::new(Store::new(config.history_limit)),
            tokens: Mutex::new(Tokens::default()),
            rules: Mutex::new(Vec::new()),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(RequestLog::new(config.request_log_limit)),
            in_flight: Arc::default(),
            issuer,
            admin_token: admin_token.clone(),
            url: url.clone(),
            watches: Mutex::new(CancellationToken::new()),
            config: config.clone(),
        });
        for ns in &config.namespaces {
            rest::put_object(
                &shared,
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } }),
            )?;
        }
        let kubeconfig_yaml = kubeconfig::render(
            &url,
            &tls.ca_pem,
            &admin_token,
            &config.kubeconfig_namespace,
        );
        let kubeconfig_file = kubeconfig::write(&kubeconfig_yaml)?;
        let shutdown = CancellationToken::new();
        tokio::spawn(server::accept_loop(
            listener,
            TlsAcceptor::from(tls.config),
            shared.clone(),
            shutdown.clone(),
        ));
        Ok(Self {
            shared,
            addr,
            ca_pem: tls.ca_pem,
            kubeconfig_yaml,
            kubeconfig_file,
            shutdown,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate (PEM) that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The kubeconfig (server URL, CA data, admin bearer token) as YAML.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// The kubeconfig as a file, for `KUBECONFIG` or a path flag; deleted when the server drops.
    pub fn kubeconfig_path(&self) -> &Path {
        self.kubeconfig_file.path()
    }

    /// The kubeconfig's bearer token: a cluster admin (`system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.shared.admin_token
    }

    /// Stops accepting and closes every connection. Idempotent; also done on drop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    // ----- resources -------------------------------------------------------------------------

    /// Serves another resource (or replaces the definition with the same group and plural).
    pub fn register(&self, def: ResourceDef) {
        write(&self.shared.registry).register(def);
    }

    /// Serves the resource a CRD defines, pruning writes by its schema as a real server does.
    pub fn register_crd_yaml(&self, yaml: &str) -> Result<ResourceDef> {
        let def = crd::from_crd(yaml)?;
        self.register(def.clone());
        Ok(def)
    }

    /// The served resources.
    pub fn resources(&self) -> Vec<ResourceDef> {
        read(&self.shared.registry).all().to_vec()
    }

    fn def(&self, resource: &str) -> Result<ResourceDef> {
        let (group, plural) = split_resource(resource);
        read(&self.shared.registry)
            .lookup_any_version(group, plural)
            .cloned()
            .ok_or_else(|| Error::UnknownResource(resource.to_owned()))
    }

    // ----- objects ---------------------------------------------------------------------------

    /// Creates or replaces an object directly (found by its `apiVersion` and `kind`), status
    /// included. Server metadata is filled and watchers see ADDED or MODIFIED, as for a client write.
    pub fn put_object(&self, object: Value) -> Result<Value> {
        Ok((*rest::put_object(&self.shared, object)?).clone())
    }

    /// One object; `resource` is `plural.group` (`leases.coordination.k8s.io`) or a core plural.
    pub fn get_object(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let def = self.def(resource).ok()?;
        let key = (namespace.unwrap_or_default().to_owned(), name.to_owned());
        self.shared
            .store
            .get(&def.store_key(), &key)
            .map(|o| (*o).clone())
    }

    /// Deletes an object directly (finalizers ignored); watchers see DELETED. Returns the object.
    pub fn delete_object(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let def = self.def(resource).ok()?;
        let key = (namespace.unwrap_or_default().to_owned(), name.to_owned());
        rest::delete_object(&self.shared, &def, &key).map(|o| (*o).clone())
    }

    /// Every object of a resource, in key (namespace, name) order.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let Ok(def) = self.def(resource) else {
            return Vec::new();
        };
        self.shared
            .store
            .current(&def.store_key())
            .1
            .into_iter()
            .map(|(_, o)| (*o).clone())
            .collect()
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// Drops the change history, as etcd compaction does: watches resuming from before now and
    /// continue tokens issued before now get 410 Expired.
    pub fn compact(&self) {
        self.shared.store.compact();
    }

    /// Changes how many change events are kept.
    pub fn set_history_limit(&self, limit: usize) {
        self.shared.store.set_history_limit(limit);
    }

    /// Ends every open watch stream cleanly (as an API server restart or a watch timeout does):
    /// clients resume from their last resourceVersion.
    pub fn close_watches(&self) {
        let mut token = lock(&self.shared.watches);
        token.cancel();
        *token = CancellationToken::new();
    }

    // ----- authentication and authorization --------------------------------------------------

    /// Makes a token known: TokenReview authenticates it as `user` for `audiences`, and requests
    /// bearing it run as `user` (authorized by the [`AccessRule`]s).
    pub fn add_token(&self, token: &str, user: UserInfo, audiences: Vec<String>) {
        lock(&self.shared.tokens).add(
            token,
            TokenEntry {
                user,
                audiences,
                expires_at: None,
            },
        );
    }

    /// Forgets a token, as a deleted pod or service account invalidates its tokens. Returns whether
    /// it was known.
    pub fn revoke_token(&self, token: &str) -> bool {
        lock(&self.shared.tokens).revoke(token)
    }

    /// Mints a signed service-account JWT bound to a synthetic pod `NAME-pod`, and makes it known
    /// to TokenReview. See [`FakeApiServer::mint_token`] for full control.
    pub fn mint_service_account_token(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        ttl: Duration,
    ) -> Result<String> {
        self.mint_token(&ServiceAccountToken {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            uid: uid.to_owned(),
            pod: Some((format!("{name}-pod"), meta::new_uid())),
            audiences,
            ttl,
        })
    }

    /// Mints a signed service-account JWT with the claims of a projected token (`iss`, `sub`,
    /// `aud`, `exp`, `iat`, `nbf`, `jti`, `kubernetes.io`), signed with the server's key, and makes
    /// it known to TokenReview with the user a real server derives from it.
    pub fn mint_token(&self, spec: &ServiceAccountToken) -> Result<String> {
        let jti = meta::new_uid();
        let (token, expires_at) = self.shared.issuer.mint(spec, &jti)?;
        let mut extra = std::collections::BTreeMap::new();
        extra.insert(
            "authentication.kubernetes.io/credential-id".to_owned(),
            vec![format!("JTI={jti}")],
        );
        if let Some((pod, pod_uid)) = &spec.pod {
            extra.insert(
                "authentication.kubernetes.io/pod-name".to_owned(),
                vec![pod.clone()],
            );
            extra.insert(
                "authentication.kubernetes.io/pod-uid".to_owned(),
                vec![pod_uid.clone()],
            );
        }
        let user = UserInfo {
            username: format!("system:serviceaccount:{}:{}", spec.namespace, spec.name),
            uid: spec.uid.clone(),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{}", spec.namespace),
                "system:authenticated".to_owned(),
            ],
            extra,
        };
        lock(&self.shared.tokens).add(
            &token,
            TokenEntry {
                user,
                audiences: spec.audiences.clone(),
                expires_at: Some(expires_at),
            },
        );
        Ok(token)
    }

    /// The service-account issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer.issuer
    }

    /// Adds an authorization rule (answers SubjectAccessReviews and authorizes token users).
    pub fn allow(&self, rule: AccessRule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Removes every authorization rule.
    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    // ----- faults ----------------------------------------------------------------------------

    /// Delays every request by `latency` (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// Delays requests whose path starts with `prefix` by `latency` (on top of
    /// [`FakeApiServer::set_latency`]; zero removes the rule), so one kind of call can be slow
    /// (TokenReviews under load) while watches and writes are not.
    pub fn set_path_latency(&self, prefix: &str, latency: Duration) {
        lock(&self.shared.faults).set_path_latency(prefix, latency);
    }

    /// Fails the next `n` requests with `code` (500 InternalError, 429 with Retry-After, …).
    pub fn fail_next(&self, n: u32, code: u16) {
        self.add_fault(Fault::next(n, code));
    }

    /// Fails every request with `code` until [`FakeApiServer::clear_faults`].
    pub fn fail_all(&self, code: u16) {
        self.add_fault(Fault::always(code));
    }

    /// Adds a failure rule (to filter by path prefix or verb).
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    /// Removes every failure rule and every latency.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Makes the server unreachable (open connections dropped, new ones reset) or reachable
    /// again, on the same port.
    pub fn set_unreachable(&self, unreachable: bool) {
        let mut faults = lock(&self.shared.faults);
        faults.unreachable = unreachable;
        if unreachable {
            faults.connections.cancel();
            faults.connections = CancellationToken::new();
        }
    }

    // ----- request log -----------------------------------------------------------------------

    /// Every logged request, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).snapshot()
    }

    /// How many logged requests satisfy `predicate`.
    pub fn count(&self, predicate: impl Fn(&RecordedRequest) -> bool) -> usize {
        lock(&self.shared.log)
            .snapshot()
            .iter()
            .filter(|r| predicate(r))
            .count()
    }

    /// Empties the request log, and starts the in-flight maxima again from what is outstanding.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
        lock(&self.shared.in_flight).reset_max();
    }

    /// Requests to `path` (without the query) being answered now, injected latency included.
    pub fn in_flight(&self, path: &str) -> usize {
        lock(&self.shared.in_flight).current(path)
    }

    /// The most requests to `path` outstanding at once since the start or the last
    /// [`FakeApiServer::clear_requests`]: what a client-side cap on concurrent calls must bound.
    pub fn max_in_flight(&self, path: &str) -> usize {
        lock(&self.shared.in_flight).max(path)
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
