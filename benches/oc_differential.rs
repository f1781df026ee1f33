//! Differential run against the real `oc adm upgrade status` over many seeds (the test runs 200):
//! prints how many seeds and lines differ and exits non-zero on any difference.
//!
//! ```sh
//! export KUBEBUILDER_ASSETS=...   # holds `oc`
//! cargo bench --profile dev --bench oc_differential -- --seeds 1000 [--first 0] [--threads 2]
//! ```
//!
//! `OC_DIFF_BENCH_SEEDS` sets the default seed count (1000). `--profile dev` reuses the test build;
//! without it cargo builds the release binary (fat LTO, about 15 minutes on 2 cores).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark: failing loudly is right

#[path = "../tests/support/oc_differential.rs"]
mod oc_differential;
#[path = "../tests/support/random_cluster.rs"]
mod random_cluster;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use oc_differential::{check_seeds, oc_binary, report};

struct Args {
    seeds: u64,
    first: u64,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        seeds: std::env::var("OC_DIFF_BENCH_SEEDS").ok().map_or(1000, |s| {
            s.parse().expect("OC_DIFF_BENCH_SEEDS is a number")
        }),
        first: 0,
        threads: std::thread::available_parallelism().map_or(2, usize::from),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--seeds" => a.seeds = number(),
            "--first" => a.first = number(),
            "--threads" => a.threads = usize::try_from(number()).unwrap(),
            // cargo bench passes `--bench` to every harness-less benchmark.
            "--bench" => {}
            other => panic!("unknown flag {other}; flags: --seeds N --first N --threads N"),
        }
    }
    a
}

fn main() -> ExitCode {
    let args = parse_args();
    let Some(oc) = oc_binary() else {
        eprintln!("no oc in $KUBEBUILDER_ASSETS: nothing to compare with");
        return ExitCode::FAILURE;
    };
    let ours = Path::new(env!("CARGO_BIN_EXE_update-status-controller"));
    let tmp = tempfile::tempdir().unwrap();
    let seeds: Vec<u64> = (args.first..args.first + args.seeds).collect();
    let started = Instant::now();
    let failures = check_seeds(&seeds, args.threads, &oc, ours, tmp.path());
    let elapsed = started.elapsed();
    let lines: usize = failures.iter().map(|f| f.lines).sum();
    if !failures.is_empty() {
        println!(
            "{}",
            report(
                &failures,
                "OC_DIFF_SEEDS={seed} OC_DIFF_KEEP=/tmp/oc-diff cargo test --test oc_differential"
            )
        );
    }
    println!(
        "oc_differential: {} seeds ({}..{}), {} differ, {} lines differ, {:.1} s on {} threads",
        seeds.len(),
        args.first,
        args.first + args.seeds,
        failures.len(),
        lines,
        elapsed.as_secs_f64(),
        args.threads
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
