//! Whether what `status` reads from the cluster is kept current. The controller holds its Lease
//! while it runs and renews it every few seconds; a Lease nobody holds (released at shutdown),
//! one not renewed within its duration, or none at all, means nobody keeps
//! `UpgradeStatus/cluster` current, and `status` says so. Reading the Lease costs the controller
//! nothing: an idle cluster still causes no write.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use crate::publish::lease::DEFAULT_LEASE_NAME;

/// Where the shipped manifests run the controller, and so where its Lease lives.
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "openshift-update-status-controller";

/// The warning for a Lease as read at `now` (`None`: no such Lease); `None` when it is held and
/// renewed within its duration.
pub fn judge(lease: Option<&Lease>, namespace: &str, now: Timestamp) -> Option<String> {
    let name = format!("Lease {namespace}/{DEFAULT_LEASE_NAME}");
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return Some(format!(
            "warning: no {name}: the update-status-controller does not seem to run, so this status may be out of date"
        ));
    };
    let renewed = spec.renew_time.as_ref().map(|t| t.0);
    let held = spec
        .holder_identity
        .as_deref()
        .is_some_and(|h| !h.is_empty());
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let expired = renewed.is_none_or(|r| now.as_second() > r.as_second() + duration);
    if held && !expired {
        return None;
    }
    let ago = renewed.map_or_else(
        || "never renewed".to_owned(),
        |r| {
            format!(
                "last renewed {}s ago",
                (now.as_second() - r.as_second()).max(0)
            )
        },
    );
    Some(format!(
        "warning: the update-status-controller is not running ({name} {}, {ago}), so this status may be out of date",
        if held { "expired" } else { "released" }
    ))
}

/// Reads the controller's Lease and judges it; `None` as well when the Lease cannot be read for
/// another reason than its absence (a user without access to the controller's namespace learns
/// nothing either way, and is not warned about that).
pub async fn warning(client: kube::Client, namespace: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    match api.get_opt(DEFAULT_LEASE_NAME).await {
        Ok(lease) => judge(lease.as_ref(), namespace, Timestamp::now()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    use super::*;

    fn lease(holder: &str, renewed: &str, duration: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.to_owned()),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                lease_duration_seconds: Some(duration),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn only_a_held_lease_renewed_within_its_duration_is_fresh() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let ns = DEFAULT_CONTROLLER_NAMESPACE;
        assert_eq!(
            judge(Some(&lease("pod-a", "2026-01-01T00:00:50Z", 15)), ns, now),
            None
        );
        let expired = judge(Some(&lease("pod-a", "2026-01-01T00:00:00Z", 15)), ns, now).unwrap();
        assert!(
            expired.contains("expired, last renewed 60s ago"),
            "{expired}"
        );
        let released = judge(Some(&lease("", "2026-01-01T00:00:59Z", 1)), ns, now).unwrap();
        assert!(released.contains("released"), "{released}");
        let none = judge(None, ns, now).unwrap();
        assert!(
            none.contains("no Lease openshift-update-status-controller/update-status-controller")
        );
    }
}
