//! The alerting rules shipped in `manifests/` (the PrometheusRule), checked by Prometheus' own
//! `promtool`: they parse (`check rules`), and each alert fires when it should and stays quiet
//! when it should not (`test rules` with `tests/alert_rules/tests.yaml`). Also: every alert has
//! a test case that expects it to fire, and a runbook paragraph in `docs/operations.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

#[path = "support/tools.rs"]
mod tools;

const RULES: &str = "manifests/0000_90_update-status-controller_02_prometheusrule.yaml";
const TESTS: &str = "tests/alert_rules/tests.yaml";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The PrometheusRule's `spec`: a Prometheus rule file.
fn rule_file() -> Value {
    let rule = yaml(RULES);
    assert_eq!(rule["kind"], "PrometheusRule");
    rule["spec"].clone()
}

/// Every alert's annotations, by name.
fn annotations(rules: &Value) -> BTreeMap<String, Value> {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| Some((r["alert"].as_str()?.to_owned(), r["annotations"].clone())))
        .collect()
}

/// The test file with each expected alert's annotations filled in from the rules.
fn tests_with_annotations(rules: &Value) -> Value {
    let annotations = annotations(rules);
    let mut tests = yaml(TESTS);
    for case in tests["tests"].as_array_mut().unwrap() {
        for check in case["alert_rule_test"].as_array_mut().unwrap() {
            let name = check["alertname"].as_str().unwrap().to_owned();
            let expected = annotations
                .get(&name)
                .unwrap_or_else(|| panic!("{TESTS}: no alert {name} in {RULES}"))
                .clone();
            for alert in check["exp_alerts"].as_array_mut().unwrap() {
                alert["exp_annotations"] = expected.clone();
            }
        }
    }
    tests
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// A directory holding `rules` as `rules.yaml` and `tests` as `tests.yaml` (JSON is YAML:
/// promtool reads both).
fn workdir(rules: &Value, tests: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), rules.to_string()).unwrap();
    std::fs::write(dir.path().join("tests.yaml"), tests.to_string()).unwrap();
    dir
}

#[test]
fn the_alerting_rules_parse_and_pass_their_unit_tests_in_promtool() {
    if !tools::tool_available("promtool", "--version", "prometheus") {
        return;
    }
    let rules = rule_file();
    let dir = workdir(&rules, &tests_with_annotations(&rules));
    let checked = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(
        checked.contains(&format!(
            "SUCCESS: {} rules found",
            annotations(&rules).len()
        )),
        "{checked}"
    );
    let tested = promtool(dir.path(), &["test", "rules", "tests.yaml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn a_broken_expectation_fails_promtool() {
    if !tools::tool_available("promtool", "--version", "prometheus") {
        return;
    }
    let rules = rule_file();
    let mut tests = tests_with_annotations(&rules);
    // The stale informer is "storage"; expecting another name must fail.
    let stale = tests["tests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|c| c["alert_rule_test"].as_array_mut().unwrap().iter_mut())
        .find(|c| c["alertname"] == "UpdateStatusInformerStale" && c["exp_alerts"] != json!([]))
        .unwrap();
    stale["exp_alerts"][0]["exp_labels"]["informer"] = json!("machine-config");
    let dir = workdir(&rules, &tests);
    let out = Command::new("promtool")
        .args(["test", "rules", "tests.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "promtool accepted a wrong expectation"
    );
}

#[test]
fn every_alert_has_a_firing_test_summary_description_and_runbook() {
    let rules = rule_file();
    let tests = yaml(TESTS);
    let operations = std::fs::read_to_string(repo("docs/operations.md")).unwrap();
    let fired: Vec<&str> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["alert_rule_test"].as_array().unwrap())
        .filter(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .filter_map(|c| c["alertname"].as_str())
        .collect();
    let all = annotations(&rules);
    assert_eq!(all.len(), 6, "{:?}", all.keys());
    for (name, annotations) in &all {
        assert!(
            fired.contains(&name.as_str()),
            "no test expects {name} to fire"
        );
        for key in ["summary", "description"] {
            assert!(
                annotations[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {key}"
            );
        }
        assert!(
            operations.contains(&format!("#### {name}\n")),
            "docs/operations.md has no runbook heading `#### {name}`"
        );
    }
    let text = std::fs::read_to_string(repo(RULES)).unwrap();
    let templated: Vec<&str> = text.lines().filter(|l| l.contains("{{")).collect();
    assert!(
        templated.is_empty(),
        "Go templates in a manifest the CVO may render: {templated:?}"
    );
}
