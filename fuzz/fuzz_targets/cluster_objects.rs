//! The parsers the controller reads cluster state with: a file of the cluster directory (YAML or
//! JSON, one or many documents, typed lists, `v1 List`, a Thanos `alerts.json`), the same text as
//! one object of a Kubernetes watch (`cluster::kube::kinds`), and UpdateInformer objects as the
//! registry reads them (CRD rules, then `Registry` and `Grant`). The input is the file's text.
//!
//! Invariants checked, beyond "no panic":
//! - the fast path for JSON lists agrees with the general decoder whenever it answers;
//! - every object of a kind an informer reads has a non-empty name;
//! - an UpdateInformer that passes its CRD rules still passes them after a serialize/parse round
//!   trip, and the registry built from it grants status insights only to the informers that own
//!   them, and only to the producers it lists.

#![no_main]

use std::path::Path;

use kube::api::DynamicObject;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use update_status_api::v1alpha1::{
    InformerName, InsightType, STATUS_INSIGHT_INFORMERS, UpdateInformer,
};
use update_status_api::validation;
use update_status_controller::cluster::decode::{Located, Object, decode_general, decode_text};
use update_status_controller::cluster::kube::kinds;
use update_status_controller::informers::Registry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let decoded = decode_text(path, text);
    let general = decode_general(path, text);
    match (&decoded, &general) {
        (Ok(fast), Ok(slow)) => assert_eq!(
            format!("{fast:?}"),
            format!("{slow:?}"),
            "the fast JSON-list path and the general decoder disagree"
        ),
        (Ok(fast), Err(e)) => {
            panic!(
                "the fast path accepted {} objects the general decoder refuses: {e}",
                fast.len()
            )
        }
        // decode_text fell back to the general decoder, so it says what that says.
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (Err(a), Ok(_)) => panic!("decode_text refused what the general decoder accepts: {a}"),
    }
    if let Ok(objects) = decoded {
        objects.iter().for_each(named);
    }

    let json: Option<Value> = serde_json::from_str(text).ok();
    if let Some(value) = &json
        && let Ok(obj) = serde_json::from_value::<DynamicObject>(value.clone())
    {
        watched(obj);
    }
    // The registry's reading of UpdateInformers: from JSON (a watch) or YAML documents (offline).
    let documents = match json {
        Some(value) => vec![value],
        None => serde_saphyr::from_multiple::<Value>(text).unwrap_or_default(),
    };
    for doc in documents {
        if let Ok(informer) = validation::update_informer_from_value(doc) {
            registered(informer);
        }
    }
});

/// Objects the informers read always have a name (they are keyed by it).
fn named(located: &Located) {
    let name = match &located.object {
        Object::ClusterVersion(x) => x.metadata.name.as_deref(),
        Object::ClusterOperator(x) => x.metadata.name.as_deref(),
        Object::MachineConfigPool(x) => x.metadata.name.as_deref(),
        Object::MachineConfig(x) => x.metadata.name.as_deref(),
        Object::Node(x) => x.metadata.name.as_deref(),
        Object::Deployment(x) => x.metadata.name.as_deref(),
        Object::Alerts(_) | Object::Other { .. } => return,
    };
    assert!(
        name.is_some_and(|n| !n.is_empty()),
        "{} has no name",
        located.describe()
    );
}

/// One watched object, converted as each watch converts it.
fn watched(obj: DynamicObject) {
    let _ = kinds::to_cluster_version(obj.clone());
    let _ = kinds::to_cluster_operator(obj.clone());
    let _ = kinds::to_machine_config_pool(obj.clone());
    let _ = kinds::to_machine_config(obj.metadata.clone());
    let _ = kinds::to_deployment(obj.clone());
    if let Ok(node) = kinds::to_node(obj.clone()) {
        // Trimming keeps nothing it was not asked to keep, so trimming again changes nothing.
        assert_eq!(kinds::trim_node(node.clone()), node);
    }
    if let Ok(informer) = kinds::to_update_informer(obj) {
        registered(informer);
    }
}

/// An UpdateInformer that passed its CRD rules, as the registry uses it.
fn registered(informer: UpdateInformer) {
    assert!(validation::update_informer_rules(&informer).is_empty());
    let value = match serde_json::to_value(&informer) {
        Ok(value) => value,
        Err(e) => panic!("a valid UpdateInformer does not serialize: {e}"),
    };
    match validation::update_informer_from_value(value) {
        Ok(again) => assert_eq!(
            again, informer,
            "the UpdateInformer changed in a round trip"
        ),
        Err(v) => panic!("a valid UpdateInformer fails its rules after a round trip: {v:?}"),
    }

    let Some(name) = informer.metadata.name.clone() else {
        panic!("a valid UpdateInformer has no name");
    };
    let Ok(informer_name) = InformerName::new(name.as_str()) else {
        panic!("a valid UpdateInformer's name {name:?} is not an informer name");
    };
    let registry = Registry::new([informer.clone()]);
    let stranger = "system:serviceaccount:fuzz-stranger-namespace:stranger";
    let listed = |username: &str| {
        informer
            .spec
            .producers
            .iter()
            .any(|p| p.service_account.username() == username)
    };
    if !listed(stranger) {
        assert!(registry.authorize(&informer_name, stranger, None).is_err());
    }
    for producer in informer.spec.producers.iter() {
        let sa = &producer.service_account;
        let uid = sa.uid.as_ref().map(|u| u.as_str());
        match registry.authorize(&informer_name, &sa.username(), uid) {
            Ok(grant) => {
                assert!(
                    informer.spec.is_enabled(),
                    "a disabled informer granted a report"
                );
                assert_eq!(grant.informer, informer_name);
                let owns_status = STATUS_INSIGHT_INFORMERS.contains(&name.as_str());
                assert!(
                    owns_status
                        || grant
                            .allowed_types
                            .iter()
                            .all(|t| *t == InsightType::Health),
                    "{name} may send {:?}",
                    grant.allowed_types
                );
            }
            Err(denial) => assert!(!informer.spec.is_enabled(), "{denial}"),
        }
        if sa.uid.is_some() {
            // A pinned account does not match without its UID.
            assert!(
                registry
                    .authorize(&informer_name, &sa.username(), None)
                    .is_err()
            );
        }
    }
}
