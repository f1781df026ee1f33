//! `docs/operations.md` carries the flag reference generated from the command line
//! (`cli::Cli` through `clap::CommandFactory`) between two marker comments. This test fails, with
//! a diff, when the file differs from what the generator produces now; run it with `UPDATE_DOCS=1`
//! to rewrite that part of the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::CommandFactory;
use update_status_controller::cli::Cli;

const DOC: &str = "docs/operations.md";
const BEGIN: &str = "<!-- BEGIN GENERATED FLAGS: UPDATE_DOCS=1 cargo test --test docs_current -->";
const END: &str = "<!-- END GENERATED FLAGS -->";

/// Markdown table cells are one line and `|` separates them.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// `text` as one sentence-ended line: clap drops the final period of a one-paragraph doc comment.
fn sentence(text: &str) -> String {
    let line = cell(text);
    if line.is_empty() || line.ends_with(['.', '!', '?', ')']) {
        line
    } else {
        format!("{line}.")
    }
}

/// The flag reference: one section per subcommand, one row per flag or argument.
fn generate() -> String {
    let mut cli = Cli::command();
    cli.build();
    let mut out = String::new();
    out.push_str(&format!(
        "Generated from `{} --help` of each subcommand. Every flag can also be set from the environment variable beside it (a flag on the command line wins); switches take `true` or `false` there. Durations are Go durations (`90s`, `10m`, `1h30m`).\n",
        cli.get_name()
    ));
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push_str(&format!("\n### `{}`\n\n", sub.get_name()));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            out.push_str(&format!("{}\n\n", sentence(&about.to_string())));
        }
        let args: Vec<_> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        if args.is_empty() {
            out.push_str("No flags.\n");
            continue;
        }
        out.push_str("| flag | environment | default | description |\n|---|---|---|---|\n");
        for arg in args {
            let value = arg
                .get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.to_string())
                .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let flag = match (arg.get_long(), arg.get_short()) {
                (Some(long), Some(short)) if takes_value => {
                    format!("`-{short}`, `--{long} <{value}>`")
                }
                (Some(long), None) if takes_value => format!("`--{long} <{value}>`"),
                (Some(long), Some(short)) => format!("`-{short}`, `--{long}`"),
                (Some(long), None) => format!("`--{long}`"),
                (None, _) => format!("`<{value}>` (argument)"),
            };
            let env = arg
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|d| format!("`{}`", d.to_string_lossy()))
                .collect();
            let default = if arg.is_required_set() {
                "required".to_owned()
            } else {
                defaults.join(", ")
            };
            let mut help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let possible: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|p| !p.is_hide_set())
                .map(|p| match p.get_help() {
                    Some(h) => format!("`{}`: {}", p.get_name(), cell(&h.to_string())),
                    None => format!("`{}`", p.get_name()),
                })
                .collect();
            // A switch's possible values are just true and false; the flag column says it.
            if !possible.is_empty() && takes_value {
                help = format!("{} One of: {}.", sentence(&help), possible.join("; "));
            }
            out.push_str(&format!(
                "| {flag} | {env} | {default} | {} |\n",
                sentence(&help)
            ));
        }
    }
    out
}

/// A line diff (longest common subsequence): `-` lines are in the file, `+` lines are generated.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut lcs = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out.join("\n")
}

#[test]
fn operations_md_flag_reference_is_current() {
    let path = format!("{}/{DOC}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{DOC}: {e}"));
    let (head, rest) = text
        .split_once(&format!("{BEGIN}\n"))
        .unwrap_or_else(|| panic!("{DOC} lacks the line {BEGIN}"));
    let (current, tail) = rest
        .split_once(&format!("{END}\n"))
        .unwrap_or_else(|| panic!("{DOC} lacks the line {END} after {BEGIN}"));
    let generated = generate();
    if current == generated {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{head}{BEGIN}\n{generated}{END}\n{tail}")).unwrap();
        eprintln!("rewrote the flag reference in {DOC}");
        return;
    }
    panic!(
        "{DOC}: the flag reference is not what the command line generates (- in the file, + generated):\n{}\n\nRun `UPDATE_DOCS=1 cargo test --test docs_current` to rewrite it, and commit the result.",
        diff(current, &generated)
    );
}

#[test]
fn the_generated_reference_covers_every_subcommand_and_flag() {
    let text = generate();
    let mut cli = Cli::command();
    cli.build();
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        assert!(
            text.contains(&format!("### `{}`", sub.get_name())),
            "no section for {}",
            sub.get_name()
        );
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long().filter(|l| *l != "help") {
                assert!(text.contains(&format!("`--{long}")), "--{long} is missing");
            }
            if let Some(env) = arg.get_env() {
                assert!(
                    text.contains(&format!("`{}`", env.to_string_lossy())),
                    "{env:?} is missing"
                );
            }
        }
    }
    // The diff names what changed on each side.
    assert_eq!(diff("a\nb\nc", "a\nc\nd"), "- b\n+ d");
}
