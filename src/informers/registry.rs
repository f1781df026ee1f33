//! Which UpdateInformers exist, and whether a caller may report for one. Checked before the
//! request body is read.

use std::collections::BTreeMap;
use std::sync::Arc;

use update_status_api::v1alpha1::{InformerName, RESERVED_INFORMER_NAMES, UpdateInformer};

use super::policy::Grant;

/// What a caller who may not report for (or read) an informer is told after its own username,
/// whatever the reason, unless it is a listed producer of that informer: one answer for a name
/// no UpdateInformer has, a reserved one, and an UpdateInformer that does not list the caller
/// (enabled or not), so that the 403 does not tell a stranger which informers exist or are
/// switched off. The username is the caller's own, from its verified token: it tells a
/// misconfigured producer which identity it presented, and nothing about anyone else.
pub const NOT_ALLOWED: &str = "is not a listed producer of an enabled UpdateInformer of that name (nor, where the UpdateInformer pins one, of that uid); ask a cluster administrator";

/// Why a caller may not report for an informer (HTTP 403). The messages are for the log and the
/// audit trail; the caller is told [`Denial::public_message`]. They name only what the caller
/// asked for, never other informers or producers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// No UpdateInformer of that name.
    #[error(
        "informer {0} is not registered: an administrator must create an UpdateInformer named {0}"
    )]
    Unregistered(String),
    /// Registered but switched off, and the caller is one of its listed producers (a caller
    /// not listed is [`Denial::NotAProducer`], enabled or not).
    #[error("informer {0} is disabled (spec.reporting is Disabled)")]
    Disabled(String),
    /// Named like a built-in informer no producer may take over. The CRD refuses such a name;
    /// this catches an object stored before that rule, or read from a file offline.
    #[error(
        "informer {0} is a built-in informer that no UpdateInformer may take over (only cluster-version and machine-config may be); rename the UpdateInformer"
    )]
    Reserved(String),
    /// The caller is not listed in `spec.producers`.
    #[error("{user} is not a producer of informer {informer}")]
    NotAProducer { user: String, informer: String },
}

impl Denial {
    /// What the caller, `username`, is told: why, only to a listed producer (its informer is
    /// disabled); that it is [`NOT_ALLOWED`] to everyone else, whatever the reason.
    pub fn public_message(&self, username: &str) -> String {
        match self {
            Denial::Disabled(_) => DISABLED_MESSAGE.to_owned(),
            _ => format!("{username} {NOT_ALLOWED}"),
        }
    }

    /// The reason in one word, for the audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Denial::Unregistered(_) => "Unregistered",
            Denial::Disabled(_) => "Disabled",
            Denial::Reserved(_) => "Reserved",
            Denial::NotAProducer { .. } => "NotAProducer",
        }
    }
}

/// What a listed producer of a disabled informer is told (the informer is its own: naming it
/// tells it nothing new).
const DISABLED_MESSAGE: &str = "this informer is disabled (spec.reporting is Disabled); reports are refused until a cluster administrator enables it";

/// The UpdateInformers, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    informers: BTreeMap<String, Registered>,
}

/// One UpdateInformer, and what it may report, worked out once per registry rather than per
/// report. A name that is no valid informer name gets no grant; no request can name it either.
#[derive(Debug, Clone)]
struct Registered {
    object: UpdateInformer,
    grant: Option<Arc<Grant>>,
}

impl Registry {
    /// A registry of these objects; objects without a valid name, or with a reserved one
    /// ([`RESERVED_INFORMER_NAMES`]), are ignored: a remote `alerts` must never make the
    /// built-in alerts informer step aside.
    pub fn new(objects: impl IntoIterator<Item = UpdateInformer>) -> Self {
        let informers = objects
            .into_iter()
            .filter_map(|object| {
                let name = object.metadata.name.clone()?;
                if RESERVED_INFORMER_NAMES.contains(&name.as_str()) {
                    tracing::warn!(informer = %name, "{}", Denial::Reserved(name.clone()));
                    return None;
                }
                let grant = InformerName::new(name.as_str())
                    .ok()
                    .map(|informer| Arc::new(Grant::from_spec(informer, &object.spec)));
                Some((name, Registered { object, grant }))
            })
            .collect();
        Self { informers }
    }

    /// The UpdateInformer named `name`.
    pub fn get(&self, name: &str) -> Option<&UpdateInformer> {
        self.informers.get(name).map(|r| &r.object)
    }

    /// Every registered informer, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &UpdateInformer)> {
        self.informers.iter().map(|(name, r)| (name, &r.object))
    }

    /// Decides whether `username` (with Kubernetes `uid`, when known) may report for `informer`:
    /// the informer must exist, list the caller in `spec.producers`, and be enabled; a producer
    /// entry with a UID matches only that incarnation of the service account. The listing is
    /// checked before the switch, so that only a listed producer is told [`Denial::Disabled`].
    pub fn authorize(
        &self,
        informer: &InformerName,
        username: &str,
        uid: Option<&str>,
    ) -> Result<Arc<Grant>, Denial> {
        let name = informer.as_str();
        if RESERVED_INFORMER_NAMES.contains(&name) {
            return Err(Denial::Reserved(name.to_owned()));
        }
        let Some(Registered { object: obj, grant }) = self.informers.get(name) else {
            return Err(Denial::Unregistered(name.to_owned()));
        };
        let listed = obj.spec.producers.iter().any(|p| {
            let sa = &p.service_account;
            sa.has_username(username)
                && match (&sa.uid, uid) {
                    (None, _) => true,
                    (Some(pinned), Some(actual)) => pinned.as_str() == actual,
                    (Some(_), None) => false,
                }
        });
        if !listed {
            return Err(Denial::NotAProducer {
                user: username.to_owned(),
                informer: name.to_owned(),
            });
        }
        if !obj.spec.is_enabled() {
            return Err(Denial::Disabled(name.to_owned()));
        }
        grant
            .clone()
            .ok_or_else(|| Denial::Unregistered(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn informer(yaml: &str) -> UpdateInformer {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn registry() -> Registry {
        Registry::new([
            informer(
                "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {name: storage}\nspec:\n  reporting: Enabled\n  producers:\n  - serviceAccount: {namespace: st, name: op, uid: 2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b}\n",
            ),
            informer(
                "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {name: off}\nspec:\n  reporting: Disabled\n  producers:\n  - serviceAccount: {namespace: st, name: op}\n",
            ),
            informer(
                "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {name: machine-config}\nspec:\n  reporting: Enabled\n  producers:\n  - serviceAccount: {namespace: openshift-machine-config-operator, name: machine-config-operator}\n",
            ),
        ])
    }

    fn name(s: &str) -> InformerName {
        InformerName::new(s).unwrap()
    }

    #[test]
    fn only_listed_service_accounts_of_enabled_informers_may_report() {
        let r = registry();
        let mco = "system:serviceaccount:openshift-machine-config-operator:machine-config-operator";
        let grant = r.authorize(&name("machine-config"), mco, None).unwrap();
        assert_eq!(grant.informer, name("machine-config"));
        assert_eq!(
            r.authorize(&name("nope"), mco, None),
            Err(Denial::Unregistered("nope".into()))
        );
        assert_eq!(
            r.authorize(&name("off"), "system:serviceaccount:st:op", None),
            Err(Denial::Disabled("off".into()))
        );
        assert!(matches!(
            r.authorize(&name("machine-config"), "system:serviceaccount:st:op", None),
            Err(Denial::NotAProducer { .. })
        ));
    }

    #[test]
    fn only_a_listed_producer_learns_more_than_one_uniform_refusal() {
        let r = registry();
        let stranger = "system:serviceaccount:default:default";
        let refusals: Vec<Denial> = ["nope", "off", "machine-config", "storage", "alerts"]
            .into_iter()
            .map(|informer| r.authorize(&name(informer), stranger, None).unwrap_err())
            .collect();
        assert_eq!(
            refusals[1],
            Denial::NotAProducer {
                user: stranger.into(),
                informer: "off".into()
            },
            "a disabled informer that does not list the caller is not called disabled"
        );
        for denial in &refusals {
            assert_eq!(
                denial.public_message(stranger),
                format!("{stranger} {NOT_ALLOWED}"),
                "{denial}"
            );
        }
        let own = r
            .authorize(&name("off"), "system:serviceaccount:st:op", None)
            .unwrap_err();
        assert_eq!(own, Denial::Disabled("off".into()));
        assert!(
            own.public_message("system:serviceaccount:st:op")
                .contains("disabled")
        );
    }

    #[test]
    fn a_reserved_name_is_never_registered_nor_authorized() {
        let r = Registry::new([informer(
            "apiVersion: update.openshift.io/v1alpha1\nkind: UpdateInformer\nmetadata: {name: alerts}\nspec:\n  reporting: Enabled\n  producers:\n  - serviceAccount: {namespace: st, name: op}\n",
        )]);
        assert!(r.get("alerts").is_none());
        assert_eq!(r.iter().count(), 0);
        let denial = r
            .authorize(&name("alerts"), "system:serviceaccount:st:op", None)
            .unwrap_err();
        assert_eq!(denial, Denial::Reserved("alerts".into()));
        assert!(
            denial
                .to_string()
                .contains("no UpdateInformer may take over")
        );
    }

    /// Every built-in informer is either one a producer may take over, or reserved.
    #[test]
    fn every_builtin_name_is_takeable_or_reserved() {
        use crate::builtin::{ALERTS_INFORMER, CLUSTER_VERSION_INFORMER, MACHINE_CONFIG_INFORMER};
        use update_status_api::v1alpha1::STATUS_INSIGHT_INFORMERS;
        for builtin in [
            CLUSTER_VERSION_INFORMER,
            MACHINE_CONFIG_INFORMER,
            ALERTS_INFORMER,
        ] {
            assert!(
                STATUS_INSIGHT_INFORMERS.contains(&builtin)
                    != RESERVED_INFORMER_NAMES.contains(&builtin),
                "{builtin}"
            );
        }
    }

    #[test]
    fn a_pinned_uid_refuses_a_recreated_service_account() {
        let r = registry();
        let user = "system:serviceaccount:st:op";
        assert!(
            r.authorize(
                &name("storage"),
                user,
                Some("2a3c1c1e-8f0b-4f0e-9a7e-0d9c4f0b1a2b")
            )
            .is_ok()
        );
        assert!(
            r.authorize(
                &name("storage"),
                user,
                Some("00000000-0000-0000-0000-000000000000")
            )
            .is_err()
        );
        assert!(
            r.authorize(&name("storage"), user, None).is_err(),
            "an unknown uid cannot match a pinned one"
        );
    }
}
