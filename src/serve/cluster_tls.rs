//! `--tls-profile=cluster`: serve the TLS profile of `apiserver.config.openshift.io/cluster`
//! (`spec.tlsSecurityProfile`) and follow it, as every OpenShift platform server does.
//!
//! On start the profile is read once, retried for [`START_WAIT`]; if the API server cannot
//! answer by then, the server starts with Intermediate (the platform default) rather than not at
//! all — liveness must not depend on the API server, and without it no producer can be
//! authenticated anyway — and the watch switches to the cluster's profile as soon as it lists.
//! A change applies to new handshakes; open connections keep what they negotiated.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rustls::ServerConfig;
use tokio_util::sync::CancellationToken;

use crate::cluster::kube::kinds;
use crate::server::openshift_profile::{ResolvedProfile, TlsSecurityProfile, resolve};
use crate::server::{TlsConfigHandle, TlsError, TlsPolicy};

/// The name of the APIServer singleton.
const API_SERVER_NAME: &str = "cluster";

/// How long the start waits for the cluster's profile before serving the default.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// The cluster's profile now, or Intermediate when the API server does not answer within
/// [`START_WAIT`] (logged; [`follow`] corrects it).
pub async fn initial(client: &kube::Client) -> ResolvedProfile {
    let api = api(client);
    let read = async {
        let mut delay = Duration::from_millis(200);
        loop {
            match api.get_opt(API_SERVER_NAME).await {
                Ok(object) => return object,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read APIServer/cluster for the TLS profile; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    };
    match tokio::time::timeout(START_WAIT, read).await {
        Ok(object) => resolved(object.as_ref()).unwrap_or_else(|| default_with(
            "APIServer/cluster has an unreadable tlsSecurityProfile; serving Intermediate until it is fixed",
        )),
        Err(_) => default_with(
            "APIServer/cluster could not be read; serving Intermediate until the watch reads the cluster's profile",
        ),
    }
}

/// Keeps `handle` serving the cluster's profile until `shutdown`: each change of APIServer/cluster
/// that resolves to different versions or suites builds a new configuration with `build`.
pub async fn follow(
    client: kube::Client,
    handle: TlsConfigHandle,
    mut current: TlsPolicy,
    build: impl Fn(&TlsPolicy) -> Result<Arc<ServerConfig>, TlsError>,
    shutdown: CancellationToken,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={API_SERVER_NAME}"));
    let mut events = watcher::watcher(api(&client), config)
        .default_backoff()
        .boxed();
    // Whether the list in progress (after `Init`) has delivered the object.
    let mut listed = false;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.next() => event,
        };
        let next = match event {
            None => return,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "watch of APIServer/cluster failed; retrying with backoff");
                continue;
            }
            Some(Ok(Event::Init)) => {
                listed = false;
                continue;
            }
            Some(Ok(Event::InitApply(object))) => {
                listed = true;
                resolved(Some(&object))
            }
            Some(Ok(Event::Apply(object))) => resolved(Some(&object)),
            Some(Ok(Event::InitDone)) if listed => continue,
            Some(Ok(Event::InitDone | Event::Delete(_))) => resolved(None),
        };
        let Some(next) = next else {
            tracing::warn!(
                "APIServer/cluster has an unreadable tlsSecurityProfile; keeping the profile served now"
            );
            continue;
        };
        if next.policy.same_as(&current) {
            continue;
        }
        match build(&next.policy) {
            Ok(config) => {
                handle.replace(config);
                log_notes(&next);
                tracing::info!(profile = %next.name, "TLS profile changed; new connections use it");
                current = next.policy;
            }
            Err(e) => {
                tracing::error!(profile = %next.name, error = %e, "cannot serve the cluster's TLS profile; keeping the one served now");
            }
        }
    }
}

/// Logs what the resolved profile could not honour exactly.
pub fn log_notes(profile: &ResolvedProfile) {
    for note in &profile.notes {
        tracing::warn!(profile = %profile.name, "{note}");
    }
}

fn api(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &kinds::api_servers())
}

/// The profile an APIServer object states (`None` object: absent, the default); `None` when its
/// `tlsSecurityProfile` is not a profile (or resolves to nothing servable).
fn resolved(object: Option<&DynamicObject>) -> Option<ResolvedProfile> {
    let profile = match object
        .and_then(|o| o.data.get("spec"))
        .and_then(|s| s.get("tlsSecurityProfile"))
    {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => match serde_json::from_value::<TlsSecurityProfile>(value.clone()) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "APIServer/cluster spec.tlsSecurityProfile does not parse");
                return None;
            }
        },
    };
    match resolve(profile.as_ref()) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "APIServer/cluster spec.tlsSecurityProfile cannot be served");
            None
        }
    }
}

/// Intermediate, with `why` as its note.
fn default_with(why: &str) -> ResolvedProfile {
    let mut profile = resolve(None).unwrap_or_else(|_| ResolvedProfile {
        policy: crate::server::TlsProfile::Intermediate.policy(),
        name: "Intermediate".into(),
        notes: Vec::new(),
    });
    profile.notes.push(why.to_owned());
    profile
}
