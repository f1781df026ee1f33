//! The built-in informers must produce valid insights (as the store and the CRD check them) for
//! any cluster state, however odd: long or control-character text, names Kubernetes would not
//! allow, missing times, invalid versions and selectors. Nothing may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should abort loudly

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeSpec, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use update_status_api::time::Timestamp;
use update_status_api::wire::parse_report;
use update_status_controller::builtin::assess;
use update_status_controller::cluster::openshift::{
    Alert, AlertList, OperandVersion, UpdateHistory,
};
use update_status_controller::cluster::{
    AlertData, ClusterOperator, ClusterState, MachineConfig, MachineConfigPool, OperatorCondition,
    mock_now,
};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn nasty() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(70_000),
        "é".repeat(5_000),
        "tab\there\r\nescape\u{1b}[31m bell\u{7} c1\u{9b} nul\u{0}".into(),
        "Weird Name/With:Slashes.and.Dots".into(),
        "-".into(),
        "🙂 emoji reason".into(),
    ]
}

fn cond(type_: &str, status: &str, ltt: Option<&str>, text: &str) -> OperatorCondition {
    OperatorCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: ltt.map(ts),
        reason: text.into(),
        message: text.into(),
    }
}

fn state(text: &str) -> ClusterState {
    let mut s = ClusterState::default();
    s.cv.metadata.name = Some(text.to_owned());
    s.cv.status.desired.version = text.to_owned();
    s.cv.status.history = vec![
        UpdateHistory {
            state: "Partial".into(),
            version: text.to_owned(),
            ..Default::default()
        },
        UpdateHistory {
            state: "Partial".into(),
            version: text.to_owned(),
            started_time: Some(ts("9999-12-30T00:00:00Z")),
            ..Default::default()
        },
        UpdateHistory {
            state: "Completed".into(),
            version: "4.1.0".into(),
            ..Default::default()
        },
    ];
    s.cv.status.conditions = vec![
        cond("Progressing", "True", None, text),
        cond("Failing", "True", Some("0001-01-01T00:00:00Z"), text),
    ];
    for (i, status) in ["True", "False", "Unknown", "", text].iter().enumerate() {
        let mut co = ClusterOperator::default();
        co.metadata.name = Some(format!("{text}{i}"));
        co.metadata.annotations = Some(BTreeMap::from([(
            "include.release.openshift.io/x".into(),
            String::new(),
        )]));
        co.status.versions = vec![OperandVersion {
            name: "operator".into(),
            version: text.to_owned(),
        }];
        co.status.conditions = vec![
            cond("Available", status, None, text),
            cond("Degraded", status, Some("1970-01-01T00:00:00Z"), text),
            cond("Progressing", status, Some("9999-01-01T00:00:00Z"), text),
        ];
        s.cos.push(co);
    }
    for (i, name) in ["master", "worker", text].iter().enumerate() {
        let mut p = MachineConfigPool::default();
        p.metadata.name = Some(name.to_string());
        p.spec.paused = i % 2 == 0;
        p.spec.node_selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([("role".into(), name.to_string())])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: if i == 2 {
                    text.to_owned()
                } else {
                    "DoesNotExist".into()
                },
                values: None,
            }]),
        });
        p.spec.configuration.name = text.to_owned();
        s.mcps.push(p);
    }
    let mut mc = MachineConfig::default();
    mc.metadata.name = Some(text.to_owned());
    mc.metadata.annotations = Some(BTreeMap::from([(
        "machineconfiguration.openshift.io/release-image-version".into(),
        text.to_owned(),
    )]));
    s.mcs.push(mc);
    for (i, role) in ["master", "worker", "worker"].iter().enumerate() {
        let mut n = Node::default();
        n.metadata.name = Some(format!("{text}-{i}"));
        n.metadata.labels = Some(BTreeMap::from([("role".into(), role.to_string())]));
        n.metadata.annotations = Some(BTreeMap::from([
            (
                "machineconfiguration.openshift.io/currentConfig".into(),
                text.to_owned(),
            ),
            (
                "machineconfiguration.openshift.io/desiredConfig".into(),
                format!("{text}x"),
            ),
            (
                "machineconfiguration.openshift.io/state".into(),
                if i == 2 {
                    "Degraded".into()
                } else {
                    text.to_owned()
                },
            ),
            (
                "machineconfiguration.openshift.io/reason".into(),
                text.to_owned(),
            ),
            (
                "machineconfiguration.openshift.io/desiredDrain".into(),
                format!("drain-{text}"),
            ),
            (
                "machineconfiguration.openshift.io/lastAppliedDrain".into(),
                text.to_owned(),
            ),
        ]));
        n.spec = Some(NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        n.status = Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                message: Some(text.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        s.nodes.push(n);
    }
    let alert = |severity: &str| Alert {
        labels: BTreeMap::from([
            ("alertname".into(), format!("{text}A")),
            ("namespace".into(), text.to_owned()),
            ("severity".into(), severity.into()),
        ]),
        annotations: BTreeMap::from([
            ("summary".into(), text.to_owned()),
            ("description".into(), text.to_owned()),
            ("runbook_url".into(), text.to_owned()),
        ]),
        state: "firing".into(),
        active_at: Some(ts("9999-12-30T00:00:00Z")),
    };
    s.alerts = Some(AlertData {
        data: AlertList {
            alerts: vec![alert("critical"), alert("warning"), alert("critical")],
        },
        ..Default::default()
    });
    s
}

#[test]
fn odd_states_give_valid_insights() {
    for text in nasty() {
        let s = state(&text);
        for now in [
            mock_now(&s),
            ts("2024-01-01T00:00:00Z"),
            ts("9999-12-30T00:00:00Z"),
        ] {
            let outputs = assess(&s, now, ts("2024-01-01T00:00:00Z"));
            assert_eq!(outputs.len(), 3);
            for o in &outputs {
                assert!(!o.insights.is_empty(), "{}", o.informer);
                let body = serde_json::json!({ "insights": o.insights }).to_string();
                let parsed = parse_report(body.as_bytes(), usize::MAX).unwrap();
                assert!(
                    parsed.rejected.is_empty(),
                    "text {:?}: {} rejected {:?}",
                    text.chars().take(40).collect::<String>(),
                    o.informer,
                    parsed.rejected
                );
            }
        }
    }
}

#[test]
fn an_empty_state_still_reports_the_cluster_version() {
    let s = ClusterState::default();
    let outputs = assess(&s, mock_now(&s), mock_now(&s));
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0].insights[0].uid.as_str(), "cv-unknown");
    assert!(outputs[1].insights.is_empty());
}
