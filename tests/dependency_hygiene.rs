//! Dependency hygiene (SECURITY.md, supply chain; research §2.D, §2.G): the lock file holds no
//! crate version with a known advisory among those the security research names, and no second
//! crypto stack.
//!
//! - `jsonwebtoken` at 12 or later: earlier versions treat a wrongly typed `exp`/`nbf` as absent
//!   (CVE-2026-25537, fixed in 10.3.0) and confuse the types of `sub`/`iss`/`aud` (fixed in 12.0.0);
//! - no `rustls-pemfile`: unmaintained (RUSTSEC-2025-0134), `rustls-pki-types` reads PEM instead;
//! - `hyper` at 1.5.1 or later: 1.2 to 1.5.0 left h2's `max_local_error_reset_streams` unlimited
//!   (hyperium/hyper#3782), and 0.x is a different, older stack;
//! - no `aws-lc-rs`/`aws-lc-sys`: ring is the only crypto provider (with both compiled in, rustls
//!   cannot pick a default and the cipher policy would depend on feature unification);
//! - no `openssl-sys`/`openssl`: no second TLS stack, and no C library outside ring.
//!
//! Every `Cargo.lock` CI builds is checked: the workspace's, and the fuzz crate's when it exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// A `major.minor.patch` version; a pre-release (`-rc.1`) sorts just below its release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    release: bool,
}

impl Version {
    fn parse(text: &str) -> Option<Self> {
        let (core, pre) = match text.split_once(['-', '+']) {
            Some((core, rest)) => (
                core,
                text[core.len()..].starts_with('-') && !rest.is_empty(),
            ),
            None => (text, false),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
            release: !pre,
        })
    }

    const fn at(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            release: true,
        }
    }
}

/// `(name, version)` of every `[[package]]` of a lock file (the format is line-based TOML:
/// `name = "..."` then `version = "..."` in each package table).
fn packages(lock: &str) -> Vec<(String, String)> {
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|rest| rest.trim().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            name = None;
        } else if let Some(n) = value(line, "name ") {
            name = Some(n);
        } else if let Some(v) = value(line, "version ")
            && let Some(n) = name.take()
        {
            out.push((n, v));
        }
    }
    out
}

/// Crates that must not be in the lock file, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "rustls-pemfile",
        "unmaintained (RUSTSEC-2025-0134); read PEM with rustls-pki-types",
    ),
    (
        "aws-lc-rs",
        "ring is the only crypto provider; turn the dependency's default features off",
    ),
    ("aws-lc-sys", "ring is the only crypto provider"),
    ("openssl-sys", "no second TLS stack"),
    ("openssl", "no second TLS stack"),
];

/// Crates that must be at least this version wherever they appear, and why.
const MINIMUM: &[(&str, Version, &str)] = &[
    (
        "jsonwebtoken",
        Version::at(12, 0, 0),
        "CVE-2026-25537 and the sub/iss/aud type confusion fixed in 12.0.0",
    ),
    (
        "hyper",
        Version::at(1, 5, 1),
        "h2 reset-stream limit not wired before 1.5.1 (hyperium/hyper#3782)",
    ),
];

/// Every breach of the rules in `lock`, one message per package.
fn breaches(lock: &str) -> Vec<String> {
    let packages = packages(lock);
    let mut found = Vec::new();
    for (name, version) in &packages {
        if let Some((_, why)) = FORBIDDEN.iter().find(|(n, _)| n == name) {
            found.push(format!("{name} {version} is in Cargo.lock: {why}"));
        }
        if let Some((_, min, why)) = MINIMUM.iter().find(|(n, _, _)| n == name) {
            match Version::parse(version) {
                Some(v) if v >= *min => {}
                _ => found.push(format!(
                    "{name} {version} is older than {}.{}.{}: {why}",
                    min.major, min.minor, min.patch
                )),
            }
        }
    }
    found
}

#[test]
fn the_lock_file_has_no_crate_with_a_known_advisory_or_a_second_crypto_stack() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = root.join("Cargo.lock");
    assert!(workspace.exists(), "the workspace's Cargo.lock is missing");
    let fuzz = root.join("fuzz/Cargo.lock");
    for file in [workspace, fuzz].into_iter().filter(|f| f.exists()) {
        let lock = std::fs::read_to_string(&file).unwrap();
        let packages = packages(&lock);
        assert!(
            packages.len() > 50,
            "{}: too few packages parsed",
            file.display()
        );
        let versions = |name: &str| -> Vec<&str> {
            packages
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        println!(
            "{}: {} packages; jsonwebtoken {:?}, hyper {:?}, rustls {:?}, ring {:?}",
            file.display(),
            packages.len(),
            versions("jsonwebtoken"),
            versions("hyper"),
            versions("rustls"),
            versions("ring"),
        );
        let found = breaches(&lock);
        assert!(
            found.is_empty(),
            "{}:\n{}",
            file.display(),
            found.join("\n")
        );
        // The crates the rules are about are really there (a renamed crate would pass silently).
        for name in ["jsonwebtoken", "hyper", "ring", "rustls"] {
            assert!(
                !versions(name).is_empty(),
                "{name} is not in {}",
                file.display()
            );
        }
    }
}

#[test]
fn each_rule_names_the_package_and_version_that_breaks_it() {
    let lock = r#"
version = 4

[[package]]
name = "jsonwebtoken"
version = "10.3.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "hyper"
version = "1.5.0"

[[package]]
name = "hyper"
version = "0.14.32"

[[package]]
name = "hyper"
version = "1.5.1"

[[package]]
name = "jsonwebtoken"
version = "12.0.0-rc.1"

[[package]]
name = "rustls-pemfile"
version = "2.2.0"

[[package]]
name = "aws-lc-rs"
version = "1.13.0"

[[package]]
name = "aws-lc-sys"
version = "0.29.0"

[[package]]
name = "openssl-sys"
version = "0.9.109"
dependencies = [
 "libc",
]
"#;
    assert_eq!(
        breaches(lock),
        [
            "jsonwebtoken 10.3.0 is older than 12.0.0: CVE-2026-25537 and the sub/iss/aud type confusion fixed in 12.0.0",
            "hyper 1.5.0 is older than 1.5.1: h2 reset-stream limit not wired before 1.5.1 (hyperium/hyper#3782)",
            "hyper 0.14.32 is older than 1.5.1: h2 reset-stream limit not wired before 1.5.1 (hyperium/hyper#3782)",
            "jsonwebtoken 12.0.0-rc.1 is older than 12.0.0: CVE-2026-25537 and the sub/iss/aud type confusion fixed in 12.0.0",
            "rustls-pemfile 2.2.0 is in Cargo.lock: unmaintained (RUSTSEC-2025-0134); read PEM with rustls-pki-types",
            "aws-lc-rs 1.13.0 is in Cargo.lock: ring is the only crypto provider; turn the dependency's default features off",
            "aws-lc-sys 0.29.0 is in Cargo.lock: ring is the only crypto provider",
            "openssl-sys 0.9.109 is in Cargo.lock: no second TLS stack",
        ]
    );
    assert_eq!(Version::parse("1.12.0"), Some(Version::at(1, 12, 0)));
    assert!(Version::parse("12.0.0+build.5") >= Some(Version::at(12, 0, 0)));
    assert_eq!(Version::parse("not.a.version"), None);
}
