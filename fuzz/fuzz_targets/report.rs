//! The report path of `POST /v1alpha1/informers/{name}/reports` after authentication: the body
//! goes through `wire::parse_report` (JSON, nesting limit, per-insight validation), the
//! informer's policy (`Grant::check`, as `http::routes::handle_report` applies it), then the store
//! and the size budget. The input is the request body.
//!
//! Invariants checked, beyond "no panic":
//! - a refused body is refused for a reason that is true (too many insights really are too many);
//! - every insight of an accepted body is either accepted or rejected, never both, never twice;
//!   accepted insights keep report order and are exactly what their own JSON text parses to;
//! - accepted uids are unique, and each accepted insight survives a serialize/parse round trip
//!   and passes the cross-field rules again;
//! - every rejection names an index inside the report and has a reason;
//! - the policy of a third-party informer lets through exactly the Health insights at most
//!   Warning whose link is plain `https://`;
//! - the store holds exactly what was accepted, a repeated report changes nothing but the
//!   report time, and the published status stays within the byte budget unless it had to leave
//!   every insight out, with omitted counts that add up.

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;
use update_status_api::constraints::BoundedVec;
use update_status_api::time::Timestamp;
use update_status_api::v1alpha1::{
    InformerName, InsightPayload, UpdateInformerSpec, UpgradeStatusStatus,
};
use update_status_api::validation;
use update_status_api::wire::{ReportError, ReportedInsight, parse_report};
use update_status_controller::informers::Grant;
use update_status_controller::informers::policy::THIRD_PARTY_MAX_LEVEL;
use update_status_controller::store::Store;

/// The server's default `--max-insights-per-report`.
const MAX_INSIGHTS: usize = 1000;

/// A budget small enough that ordinary fuzz inputs exercise leaving insights out.
const BUDGET_BYTES: usize = 2048;

/// Just the insights' JSON texts, to count them and re-read each one independently.
#[derive(Deserialize)]
struct Texts<'a> {
    #[serde(borrow)]
    insights: Vec<&'a RawValue>,
}

fuzz_target!(|body: &[u8]| {
    let parsed = match parse_report(body, MAX_INSIGHTS) {
        Ok(parsed) => parsed,
        Err(ReportError::TooManyInsights { count, max }) => {
            assert_eq!(max, MAX_INSIGHTS);
            assert!(count > max, "{count} insights refused as more than {max}");
            return;
        }
        Err(ReportError::Malformed(message)) => {
            assert!(!message.is_empty(), "a malformed body needs a reason");
            return;
        }
        Err(ReportError::InvalidPage(message)) => {
            assert!(!message.is_empty(), "a refused page needs a reason");
            return;
        }
    };
    let texts: Texts<'_> = match serde_json::from_slice(body) {
        Ok(texts) => texts,
        Err(e) => panic!("an accepted report does not parse as a list of insights: {e}"),
    };
    let count = texts.insights.len();

    // Rejections: in range, at most one per insight, each with a reason.
    let mut refused = HashSet::new();
    for r in &parsed.rejected {
        assert!(r.index < count, "rejection index {} of {count}", r.index);
        assert!(
            refused.insert(r.index),
            "insight {} rejected twice",
            r.index
        );
        assert!(
            !r.reason.is_empty(),
            "rejection of {} has no reason",
            r.index
        );
    }
    // Accepted + rejected cover the report exactly, accepted in report order.
    assert_eq!(parsed.accepted.len() + parsed.rejected.len(), count);
    let accepted_indexes: Vec<usize> = (0..count).filter(|i| !refused.contains(i)).collect();
    let mut uids = HashSet::new();
    for (insight, &index) in parsed.accepted.iter().zip(&accepted_indexes) {
        let own: ReportedInsight = match validation::from_json_str(texts.insights[index].get()) {
            Ok(own) => own,
            Err(v) => panic!("accepted insight {index} does not parse alone: {v}"),
        };
        assert_eq!(
            &own, insight,
            "accepted insight {index} is not its own text"
        );
        assert!(
            uids.insert(insight.uid.clone()),
            "uid {} accepted twice",
            insight.uid
        );
        assert!(validation::insight_rules(&insight.insight, "").is_empty());
        round_trips(insight);
    }

    // The policy step of the handler, for a third party (Health only) and for a status owner.
    let third_party = grant("example-storage-operator");
    let owner = grant("machine-config");
    for insight in &parsed.accepted {
        assert_eq!(
            third_party.check(insight).is_ok(),
            third_party_may_say(insight)
        );
        assert!(owner.check(insight).is_ok());
    }

    // The store: holds what was accepted, a repeat is a no-op, the budget holds.
    let informer = third_party.informer.clone();
    let mut store = Store::new();
    let t0 = at(0);
    let first = store.replace(&informer, false, parsed.accepted.clone(), t0);
    assert!(first.changed);
    assert_eq!(first.held, parsed.accepted.len());
    let held: Vec<_> = store
        .insights(&informer)
        .unwrap_or_default()
        .iter()
        .map(|i| &i.uid)
        .collect();
    let sent: Vec<_> = parsed.accepted.iter().map(|i| &i.uid).collect();
    assert_eq!(held, sent);
    let before = store.status(at(5), BUDGET_BYTES);
    let again = store.replace(&informer, false, parsed.accepted.clone(), at(10));
    assert!(!again.changed, "a repeated report changed the store");
    assert_eq!(again.removed, 0);
    // Only the report time moves (staleness is measured from it).
    let mut after = store.status(at(5), BUDGET_BYTES);
    assert_eq!(after.informers.len(), 1);
    assert_eq!(after.informers[0].last_report_time, Some(at(10)));
    let mut summaries = after.informers.into_vec();
    summaries[0].last_report_time = Some(t0);
    after.informers = match BoundedVec::new(summaries) {
        Ok(summaries) => summaries,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        after, before,
        "a repeated report changed the published status"
    );

    // The budget: a small one, and just under the full size (where size estimates go wrong).
    let full = json_len(&store.status(at(5), usize::MAX));
    for budget in [BUDGET_BYTES, full.saturating_sub(1 + body.len() % 64)] {
        // Node insights are published as their own objects, never left out.
        let publication = store.publication(at(5), budget);
        let nodes = publication.nodes.len();
        let status = publication.status;
        let size = json_len(&status);
        let kept: usize = status
            .control_plane
            .iter()
            .flat_map(|cp| cp.informers.iter())
            .chain(status.worker_pools.iter().flat_map(|p| p.informers.iter()))
            .map(|i| i.insights.len())
            .sum();
        assert!(
            size <= budget || kept == 0,
            "status of {size} bytes over the {budget}-byte budget with {kept} insights kept"
        );
        let omitted: i32 = status
            .informers
            .iter()
            .flat_map(|s| s.omitted.iter())
            .map(|o| o.count.get())
            .sum();
        assert_eq!(kept + nodes + omitted as usize, parsed.accepted.len());
    }
});

/// The length of the status as the publisher sends it.
fn json_len(status: &UpgradeStatusStatus) -> usize {
    match serde_json::to_vec(status) {
        Ok(json) => json.len(),
        Err(e) => panic!("the status does not serialize: {e}"),
    }
}

/// Serializes one accepted insight into a report of its own and parses it back.
fn round_trips(insight: &ReportedInsight) {
    let body = match serde_json::to_vec(&serde_json::json!({ "insights": [insight] })) {
        Ok(body) => body,
        Err(e) => panic!("accepted insight {} does not serialize: {e}", insight.uid),
    };
    match parse_report(&body, 1) {
        Ok(again) => {
            assert!(again.rejected.is_empty(), "{:?}", again.rejected);
            assert_eq!(again.accepted.as_slice(), std::slice::from_ref(insight));
        }
        Err(e) => panic!("accepted insight {} does not re-validate: {e}", insight.uid),
    }
}

/// What a third party may publish, restated from the policy's rules: Health insights only, at
/// most Warning, and a reference link (if any) that is `https://`, printable ASCII and has no
/// user information before the host.
fn third_party_may_say(insight: &ReportedInsight) -> bool {
    let InsightPayload::Health(health) = &insight.insight else {
        return false;
    };
    if health.impact.level > THIRD_PARTY_MAX_LEVEL {
        return false;
    }
    health.remediation.reference.as_ref().is_none_or(|url| {
        let url = url.as_str();
        url.strip_prefix("https://").is_some_and(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !host.contains('@')
        }) && url.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// The grant an UpdateInformer with a default spec gives `name`.
fn grant(name: &str) -> Grant {
    let spec: UpdateInformerSpec = match serde_json::from_value(serde_json::json!({
        "reporting": "Enabled",
        "producers": [{"serviceAccount": {"namespace": "ns", "name": "producer"}}],
    })) {
        Ok(spec) => spec,
        Err(e) => panic!("spec: {e}"),
    };
    match InformerName::new(name) {
        Ok(informer) => Grant::from_spec(informer, &spec),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn at(seconds: i64) -> Timestamp {
    match Timestamp::from_nanos(1_780_000_000_000_000_000 + i128::from(seconds) * 1_000_000_000) {
        Ok(t) => t,
        Err(e) => panic!("timestamp: {e}"),
    }
}
