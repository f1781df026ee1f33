//! The Containerfile's invariants (issue 17): base images pinned by digest, a runtime stage with
//! no shell step that runs as a numeric non-root user and carries only the binary and its licence
//! notices, and no development certificate anywhere near the image.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The instructions of a Containerfile, continuation lines joined and comments dropped, as
/// (keyword in upper case, arguments).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                let (keyword, args) = pending.split_once(' ').unwrap_or((pending.as_str(), ""));
                out.push((keyword.to_uppercase(), args.trim().to_owned()));
                pending.clear();
            }
        }
    }
    out
}

/// Whether `image` names a `sha256` digest of 64 lower-case hex digits.
fn pinned(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(_, digest)| {
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[test]
fn base_images_are_pinned_and_the_runtime_is_non_root_without_a_shell_or_dev_certificates() {
    let text = read("Containerfile");
    let all = instructions(&text);
    let froms: Vec<&str> = all
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, a)| a.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(
        froms.len() >= 2,
        "a build stage and a runtime stage: {froms:?}"
    );
    for image in &froms {
        assert!(pinned(image), "{image} is not pinned by digest");
    }

    // The runtime stage: everything after the last FROM.
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let runtime = &all[last_from + 1..];
    assert!(
        runtime.iter().all(|(k, _)| k != "RUN"),
        "the runtime stage runs nothing (it has no shell): {runtime:?}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, a)| a.as_str())
        .expect("the runtime stage sets USER");
    let uid: u32 = user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
        panic!("USER {user} is not numeric: runAsNonRoot cannot verify a name")
    });
    assert_ne!(uid, 0, "USER {user} is root");
    let copies: Vec<&str> = runtime
        .iter()
        .filter(|(k, _)| k == "COPY" || k == "ADD")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(!copies.is_empty());
    for copy in &copies {
        let destination = copy.split_whitespace().last().unwrap();
        assert!(
            copy.starts_with("--from=")
                && (destination == "/usr/bin/update-status-controller"
                    || destination.starts_with("/usr/share/licenses/")),
            "the runtime image holds the binary and its licences only: COPY {copy}"
        );
    }
    let entrypoint = runtime
        .iter()
        .find(|(k, _)| k == "ENTRYPOINT")
        .map(|(_, a)| a.as_str())
        .expect("an ENTRYPOINT");
    assert!(
        entrypoint.starts_with('['),
        "exec form, no shell: {entrypoint}"
    );

    // Development certificates and keys never reach an image.
    assert!(
        all.iter().all(|(_, a)| !a.contains("certs-dev")),
        "the Containerfile names certs-dev"
    );
    let ignored: Vec<String> = read(".containerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    for path in ["certs-dev", "target"] {
        assert!(
            ignored.iter().any(|i| i == path),
            "{path} is not in .containerignore: {ignored:?}"
        );
    }
}

#[test]
fn the_invariant_checks_catch_what_they_guard() {
    assert!(pinned(
        "gcr.io/distroless/cc-debian13:nonroot@sha256:4cf9e68a5cbd8c9623480b41d5ed6052f028c44cc29f91b21590613ab8bec824"
    ));
    assert!(!pinned("gcr.io/distroless/cc-debian13:nonroot"));
    assert!(!pinned("rust:1.95@sha256:abc"));
    let parsed = instructions("# c\nFROM a AS b\nRUN x \\\n && y\nUSER 1:1\n");
    assert_eq!(
        parsed,
        [
            ("FROM".to_owned(), "a AS b".to_owned()),
            ("RUN".to_owned(), "x && y".to_owned()),
            ("USER".to_owned(), "1:1".to_owned()),
        ]
    );
}
