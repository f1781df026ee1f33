//! Debian tools some tests drive (sslscan, slowhttptest, promtool): `.ci/run` installs them,
//! and a developer without them sees the test skipped rather than failed.

use std::process::{Command, Stdio};

/// Whether `tool` runs (`tool probe_arg`); if not, fails under `CI=true` (where `.ci/run`
/// installs `package`) and otherwise prints that the test is skipped.
pub fn tool_available(tool: &str, probe_arg: &str, package: &str) -> bool {
    let found = Command::new(tool)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required in CI: apt-get install -y {package}"
        );
        println!("SKIPPED: {tool} is not installed (apt-get install -y {package})");
    }
    found
}
