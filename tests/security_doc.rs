//! SECURITY.md promises that every threat row names tests that exist (and CI runs every test).
//! This keeps the promise: a renamed or deleted test, or a row without one, fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// The rows of the threat table: `| ID | threat | mitigation | tests |`.
fn threat_rows(doc: &str) -> Vec<(String, String)> {
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // ["", id, threat, mitigation, tests, ""]
            let id = cells.get(1)?;
            let is_id = id.len() >= 2
                && id.starts_with(|c: char| c.is_ascii_uppercase())
                && id[1..].chars().all(|c| c.is_ascii_digit());
            (is_id && cells.len() == 6).then(|| (id.to_string(), cells[4].to_string()))
        })
        .collect()
}

/// The backticked `path.rs` or `path.rs::function` references in a cell.
fn references(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_threat_row_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let rows = threat_rows(&doc);
    assert!(
        rows.len() >= 15,
        "the threat table has only {} rows",
        rows.len()
    );
    let mut problems = Vec::new();
    for (id, cell) in &rows {
        let refs = references(cell);
        if refs.is_empty() {
            problems.push(format!("{id}: names no test"));
        }
        for r in refs {
            let (file, function) = match r.split_once("::") {
                Some((f, func)) => (f, Some(func)),
                None => (r.as_str(), None),
            };
            let Ok(source) = std::fs::read_to_string(root.join(file)) else {
                problems.push(format!("{id}: {file} does not exist"));
                continue;
            };
            if let Some(function) = function {
                let defined = source.contains(&format!("fn {function}("));
                let is_test = source
                    .split(&format!("fn {function}("))
                    .next()
                    .and_then(|before| before.rsplit("\n\n").next())
                    .is_some_and(|attrs| attrs.contains("test"));
                if !defined {
                    problems.push(format!("{id}: {file} has no fn {function}"));
                } else if !is_test {
                    problems.push(format!("{id}: {file}::{function} is not a test"));
                }
            } else if !file.starts_with("fuzz/fuzz_targets/") {
                problems.push(format!("{id}: {r} names a file, not a test"));
            }
        }
    }
    assert!(problems.is_empty(), "SECURITY.md:\n{}", problems.join("\n"));
}

#[test]
fn the_row_parser_finds_ids_and_references() {
    let doc = "| # | a | b | c |\n|---|---|---|---|\n| S1 | x | y | `tests/a.rs::f`, `fuzz/fuzz_targets/r.rs` |\n| not | x | y | z |\n";
    let rows = threat_rows(doc);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        references(&rows[0].1),
        ["tests/a.rs::f", "fuzz/fuzz_targets/r.rs"]
    );
}
