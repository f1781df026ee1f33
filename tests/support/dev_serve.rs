//! `serve --dev` as the in-process tests run it: on a copy of the sample cluster in `dir`, with
//! the development certificate and token key, plus the flags a test adds.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::Path;

use clap::Parser;
use update_status_controller::cli::{Cli, Command, ServeArgs};

/// The `serve --dev` arguments for the cluster directory `dir`, then `extra`.
pub fn dev_serve_args(dir: &Path, extra: &[&str]) -> ServeArgs {
    let root = env!("CARGO_MANIFEST_DIR");
    let file = |name: &str| format!("{root}/certs-dev/{name}");
    let (cert, key, token_key) = (file("tls.crt"), file("tls.key"), file("token-signing.pub"));
    let dir = dir.to_string_lossy();
    let mut args = vec![
        "update-status-controller",
        "serve",
        "--dev",
        "--cluster-dir",
        &dir,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--token-key-file",
        &token_key,
    ];
    args.extend_from_slice(extra);
    match Cli::try_parse_from(args).map(|cli| cli.command) {
        Ok(Command::Serve(args)) => *args,
        Ok(other) => panic!("not serve: {other:?}"),
        Err(e) => panic!("{e}"),
    }
}
