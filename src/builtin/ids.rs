//! Insight uids: stable (the same fact gets the same uid on every recomputation, so the store keeps
//! its `acquiredAt`) and DNS-label safe (lower case, at most 63 characters).

use update_status_api::v1alpha1::{ResourceRef, Uid};
use update_status_api::wire::ReportedInsight;

/// FNV-1a, 64 bit: tiny, dependency-free and stable across releases and platforms, which is all
/// a uid needs (it is not a security boundary).
fn fnv1a64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Lower-cases `text` and replaces everything but `a-z0-9` with `-`.
fn label_chars(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Builds a label from `prefix` and `body`, cut to fit with a hash of the full text so two long
/// names never share a uid.
fn label(prefix: &str, body: &str) -> Uid {
    let full = format!("{prefix}-{}", label_chars(body));
    let trimmed = full.trim_end_matches('-');
    if let Ok(uid) = Uid::new(trimmed) {
        return uid;
    }
    let hash = format!("{:08x}", fnv1a64(&[prefix, body]) as u32);
    let room = Uid::MAX_LEN - hash.len() - 1;
    let head: String = full.chars().take(room).collect();
    let head = head.trim_end_matches('-');
    Uid::new(format!("{head}-{hash}"))
        .or_else(|_| Uid::new(format!("x-{hash}")))
        .unwrap_or_default()
}

/// The uid of a status insight: `<prefix>-<name>` with `.` replaced by `-` (`node-ip-10-0-1-2-ec2`).
pub fn status_uid(prefix: &str, name: &str) -> Uid {
    // A nameless object is reported under the name the insight gives it (see `fit::object_name`).
    label(prefix, if name.is_empty() { "unknown" } else { name })
}

/// The uid of a health insight: `<kind>-<16 hex digits>` hashing the resources it is about and
/// its summary, so one condition keeps one uid while it lasts.
pub fn health_uid(kind: &str, resources: &[ResourceRef], summary: &str) -> Uid {
    let mut parts: Vec<&str> = vec![summary];
    for r in resources {
        parts.push(r.group.as_deref().unwrap_or(""));
        parts.push(r.resource.as_str());
        parts.push(r.namespace.as_deref().unwrap_or(""));
        parts.push(r.name.as_str());
    }
    label(kind, &format!("{:016x}", fnv1a64(&parts)))
}

/// Makes the uids within one informer's output unique (two alerts may say the same thing about the
/// same object): a repeated uid gets `-2`, `-3`, ... in emission order.
pub fn dedupe_uids(insights: &mut [ReportedInsight]) {
    let mut seen = std::collections::HashSet::new();
    for insight in insights.iter_mut() {
        if seen.insert(insight.uid.to_string()) {
            continue;
        }
        let base = insight.uid.to_string();
        for n in 2usize.. {
            let suffix = format!("-{n}");
            let head: String = base
                .chars()
                .take(Uid::MAX_LEN.saturating_sub(suffix.len()))
                .collect();
            let candidate = format!("{}{suffix}", head.trim_end_matches('-'));
            if !seen.contains(&candidate)
                && let Ok(uid) = Uid::new(candidate.clone())
            {
                seen.insert(candidate);
                insight.uid = uid;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::fit::resource_ref;
    use update_status_api::v1alpha1::{InsightPayload, ObjectName, ResourceName};

    #[test]
    fn status_uids_follow_the_contract() {
        assert_eq!(status_uid("cv", "version").as_str(), "cv-version");
        assert_eq!(
            status_uid("node", "ip-10-0-30-217.us-east-2.compute.internal").as_str(),
            "node-ip-10-0-30-217-us-east-2-compute-internal"
        );
        let long = "a".repeat(200);
        let a = status_uid("node", &long);
        let b = status_uid("node", &format!("{long}b"));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert!(Uid::new(status_uid("co", "X_Y.").as_str()).is_ok());
    }

    #[test]
    fn health_uids_are_stable_and_distinct() {
        let r = [resource_ref(
            "config.openshift.io",
            "clusteroperators",
            "etcd",
            "",
        )];
        let a = health_uid("co-degraded", &r, "Cluster Operator etcd is degraded (X)");
        assert_eq!(
            a,
            health_uid("co-degraded", &r, "Cluster Operator etcd is degraded (X)")
        );
        assert_ne!(
            a,
            health_uid("co-degraded", &r, "Cluster Operator etcd is degraded (Y)")
        );
        assert!(a.as_str().starts_with("co-degraded-"));
        assert_eq!(a.len(), "co-degraded-".len() + 16);
    }

    #[test]
    fn duplicates_get_suffixes() {
        let payload =
            InsightPayload::ClusterOperator(update_status_api::v1alpha1::ClusterOperatorInsight {
                name: ObjectName::new("a").unwrap(),
                resource: ResourceRef {
                    group: None,
                    resource: ResourceName::new("x").unwrap(),
                    name: update_status_api::v1alpha1::RefName::new("a").unwrap(),
                    namespace: None,
                },
                conditions: Default::default(),
            });
        let uid = Uid::new("a".repeat(63)).unwrap();
        let mut v = vec![
            ReportedInsight {
                uid: uid.clone(),
                insight: payload.clone(),
            },
            ReportedInsight {
                uid: uid.clone(),
                insight: payload.clone(),
            },
            ReportedInsight {
                uid,
                insight: payload,
            },
        ];
        dedupe_uids(&mut v);
        assert_eq!(v[0].uid.len(), 63);
        assert!(v[1].uid.as_str().ends_with("-2") && v[1].uid.len() == 63);
        assert!(v[2].uid.as_str().ends_with("-3"));
    }
}
