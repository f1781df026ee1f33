//! A real Kubernetes control plane for tests: etcd and kube-apiserver from the directory named by
//! `KUBEBUILDER_ASSETS` (controller-runtime's envtest layout; `../shared/envtest/install.sh` or
//! `setup-envtest use 1.36.x` provide it), on free 127.0.0.1 ports, with certificates made at
//! start.
//!
//! Why a real one: a fake server once accepted a CRD the real one refuses, answered a JWKS
//! request the real one answers with 406, and stored objects etcd refuses. What this gives a test
//! is what a cluster does — OpenAPI and CEL validation with its cost limits, RBAC, server-side
//! apply with its managedFields, TokenRequest and TokenReview, watches — minus the controllers
//! (no garbage collection, namespaces never finish terminating).
//!
//! One control plane per test binary ([`shared`]), since starting one costs seconds; tests that
//! stop the API server start their own ([`ControlPlane::start`]). Both processes are stopped by
//! process id when the [`ControlPlane`] drops and, because a `static` is never dropped and a test
//! may panic or be killed, by a small watchdog process that outlives the test binary by at most a
//! second.

mod pki;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use pki::Pki;
use process::Processes;

/// Why a control plane could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `KUBEBUILDER_ASSETS` is unset or lacks a binary.
    #[error(
        "no control-plane binaries: {0} (run ../shared/envtest/install.sh, or `setup-envtest use 1.36.x`, and export KUBEBUILDER_ASSETS)"
    )]
    Assets(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificates: {0}")]
    Certificates(String),
    /// A process did not start or the server never became ready.
    #[error("{0}")]
    Start(String),
    /// A kubectl or oc invocation failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// What was run.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// The kube client could not be built.
    #[error("kube client: {0}")]
    Client(String),
}

impl Error {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The issuer of service-account tokens, and the API server's own audience.
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc";

/// The directory of control-plane binaries, from `KUBEBUILDER_ASSETS`.
pub fn assets() -> Result<PathBuf, Error> {
    let dir = std::env::var_os("KUBEBUILDER_ASSETS")
        .map(PathBuf::from)
        .ok_or_else(|| Error::Assets("KUBEBUILDER_ASSETS is not set".into()))?;
    for binary in ["etcd", "kube-apiserver", "kubectl"] {
        if !dir.join(binary).is_file() {
            return Err(Error::Assets(format!("{} has no {binary}", dir.display())));
        }
    }
    Ok(dir)
}

/// The control plane shared by the tests of this binary, started on first use; `None` (after
/// saying why on stderr) when there are no binaries to start, so a contributor without them can
/// still run the rest of the suite. Under `CI=true` a missing control plane fails the test
/// instead: CI must never pass by skipping.
#[allow(clippy::panic)] // the one way a test harness can fail the calling test
pub fn shared() -> Option<&'static ControlPlane> {
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| ControlPlane::start().map_err(|e| e.to_string()));
    match started {
        Ok(cp) => Some(cp),
        Err(reason) => skip_or_fail(reason),
    }
}

/// A control plane of the caller's own (for a test that stops its API server), or `None` as
/// [`shared`] explains.
pub fn own() -> Option<ControlPlane> {
    match ControlPlane::start() {
        Ok(cp) => Some(cp),
        Err(e) => skip_or_fail(&e.to_string()),
    }
}

#[allow(clippy::panic)] // see `shared`
fn skip_or_fail<T>(reason: &str) -> Option<T> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci {
        panic!("CI=true, and the real control plane is not available: {reason}");
    }
    eprintln!("SKIPPED: the real control plane is not available: {reason}");
    None
}

/// A running etcd and kube-apiserver.
pub struct ControlPlane {
    dir: PathBuf,
    assets: PathBuf,
    pki: Pki,
    port: u16,
    kubeconfig: PathBuf,
    processes: Processes,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver on free ports and waits until the API server is ready and
    /// its bootstrap RBAC roles exist.
    pub fn start() -> Result<Self, Error> {
        let assets = assets()?;
        let dir = tempfile::Builder::new()
            .prefix("envtest-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("/tmp"), e))?
            .keep();
        let pki = pki::write(&dir)?;
        let processes = Processes::start(&assets, &dir, &pki)?;
        let port = processes.apiserver_port();
        let kubeconfig = dir.join("admin.kubeconfig");
        let cp = ControlPlane {
            dir,
            assets,
            port,
            kubeconfig,
            processes,
            pki,
        };
        cp.write_kubeconfig_file(&cp.kubeconfig, &cp.admin_user()?)?;
        let started = Instant::now();
        cp.wait_ready(Duration::from_secs(90))?;
        eprintln!(
            "envtest: kube-apiserver ready on {} in {:.1} s",
            cp.server(),
            started.elapsed().as_secs_f64()
        );
        Ok(cp)
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The directory holding this control plane's certificates, kubeconfigs and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A cluster-admin kubeconfig (a client certificate in `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A binary of the assets directory (`oc` too, when it is there).
    fn binary(&self, name: &str) -> PathBuf {
        self.assets.join(name)
    }

    /// `kubectl` with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.binary("kubectl"));
        c.arg("--kubeconfig").arg(&self.kubeconfig);
        c
    }

    /// The real `oc` with the admin kubeconfig, or an error when the assets lack it.
    pub fn oc(&self) -> Result<Command, Error> {
        let oc = self.binary("oc");
        if !oc.is_file() {
            return Err(Error::Assets(format!(
                "{} has no oc",
                self.assets.display()
            )));
        }
        let mut c = Command::new(oc);
        c.env("KUBECONFIG", &self.kubeconfig);
        Ok(c)
    }

    /// Runs `kubectl ARGS` (admin) and returns its stdout; an error carries its stderr.
    pub fn kubectl_run(&self, args: &[&str]) -> Result<String, Error> {
        run(self.kubectl().args(args), None)
    }

    /// Runs `kubectl ARGS` with `input` on stdin.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Result<String, Error> {
        run(self.kubectl().args(args), Some(input))
    }

    /// Server-side applies `yaml` (one or more documents) as cluster-admin.
    pub fn apply(&self, yaml: &str) -> Result<String, Error> {
        self.kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=envtest",
                "-f",
                "-",
            ],
            yaml,
        )
    }

    /// Waits until every CRD the cluster holds (at least `names`) is Established.
    ///
    /// Not `kubectl wait --for=condition=Established`, nor a jsonpath filter on the
    /// conditions: both fail at once, rather than wait, on a CRD the server has stored but not
    /// yet given any `status.conditions` (a race that failed CI twice).
    pub fn wait_established(&self, names: &[&str]) -> Result<(), Error> {
        let limit = Duration::from_secs(30);
        let deadline = Instant::now() + limit;
        loop {
            let out = self.kubectl_run(&["get", "crd", "-o", "json"])?;
            let list: serde_json::Value = serde_json::from_str(&out)
                .map_err(|e| Error::Start(format!("kubectl get crd: {e}")))?;
            let mut all: Vec<(String, bool)> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|crd| {
                    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
                    let established = crd["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Established" && c["status"] == "True");
                    (name.to_owned(), established)
                })
                .collect();
            for name in names {
                if !all.iter().any(|(n, _)| n == name) {
                    all.push(((*name).to_owned(), false));
                }
            }
            let pending: Vec<&str> = all
                .iter()
                .filter(|(_, established)| !established)
                .map(|(name, _)| name.as_str())
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "CRDs not Established after {limit:?}: {}",
                    pending.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stores `objects` as a cluster holds them: each created or updated by server-side apply,
    /// then its `status` written through the status subresource (which a create ignores).
    /// Server-set metadata (`uid`, `resourceVersion`, ...) of objects read from a snapshot is
    /// dropped first.
    pub fn load(&self, objects: &[serde_json::Value]) -> Result<(), Error> {
        let list = |items: Vec<serde_json::Value>| {
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
        };
        self.apply(&list(objects.iter().cloned().map(fresh).collect()))?;
        // Only these: a kind without a status subresource answers NotFound there.
        let with_status: Vec<serde_json::Value> = objects
            .iter()
            .filter(|o| o.get("status").is_some())
            .cloned()
            .map(fresh)
            .collect();
        if !with_status.is_empty() {
            self.kubectl_stdin(
                &[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "--field-manager=envtest",
                    "--subresource=status",
                    "-f",
                    "-",
                ],
                &list(with_status),
            )?;
        }
        Ok(())
    }

    /// Creates the namespace and service account if missing; returns the account's uid.
    pub fn service_account(&self, namespace: &str, name: &str) -> Result<String, Error> {
        self.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        ))?;
        self.kubectl_run(&[
            "get",
            "serviceaccount",
            name,
            "-n",
            namespace,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
    }

    /// A TokenRequest token of a service account (which must exist) for `audience`, or for the
    /// API server's own audience when `None`.
    pub fn token(
        &self,
        namespace: &str,
        name: &str,
        audience: Option<&str>,
    ) -> Result<String, Error> {
        let mut args = vec!["create", "token", name, "-n", namespace, "--duration=1h"];
        let flag;
        if let Some(a) = audience {
            flag = format!("--audience={a}");
            args.push(&flag);
        }
        Ok(self.kubectl_run(&args)?.trim().to_owned())
    }

    /// Writes a kubeconfig at `path` that authenticates with `token` (so every call goes through
    /// RBAC as the token's subject).
    pub fn write_token_kubeconfig(&self, path: &Path, token: &str) -> Result<(), Error> {
        self.write_kubeconfig_file(path, &format!("{{token: {token}}}"))
    }

    /// A kube client acting as cluster-admin. Each call builds a new client: a client is bound
    /// to the Tokio runtime it was made on, and each `#[tokio::test]` has its own.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        client_from(&self.kubeconfig).await
    }

    /// Stops the API server (etcd keeps running): the outage a controller must ride out.
    pub fn stop_apiserver(&self) -> Result<(), Error> {
        self.processes.stop_apiserver()
    }

    /// Starts the API server again on the same port and waits until it is ready.
    pub fn start_apiserver(&self) -> Result<(), Error> {
        self.processes
            .start_apiserver(&self.assets, &self.dir, &self.pki)?;
        self.wait_ready(Duration::from_secs(90))
    }

    /// The tail of the API server's log, for the error of a start that failed.
    fn apiserver_log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("kube-apiserver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn admin_user(&self) -> Result<String, Error> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
        Ok(format!(
            "{{client-certificate-data: {}, client-key-data: {}}}",
            STANDARD.encode(read(&self.pki.admin_cert)?),
            STANDARD.encode(read(&self.pki.admin_key)?)
        ))
    }

    fn write_kubeconfig_file(&self, path: &Path, user: &str) -> Result<(), Error> {
        let ca = std::fs::read(&self.pki.ca_cert).map_err(|e| Error::io(&self.pki.ca_cert, e))?;
        let text = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: envtest, cluster: {{server: \"{}\", certificate-authority-data: {}}}}}]\n\
             users: [{{name: user, user: {user}}}]\n\
             contexts: [{{name: envtest, context: {{cluster: envtest, user: user, namespace: default}}}}]\n\
             current-context: envtest\n",
            self.server(),
            STANDARD.encode(ca)
        );
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Ready means `/readyz` answers `ok` and the bootstrap roles a controller binds to exist
    /// (they appear a few seconds after readiness).
    fn wait_ready(&self, limit: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        loop {
            self.processes.check_alive()?;
            let ready = self
                .kubectl_run(&["get", "--raw", "/readyz", "--request-timeout=2s"])
                .map(|out| out.trim() == "ok")
                .unwrap_or_else(|e| {
                    last = e.to_string();
                    false
                });
            if ready
                && self
                    .kubectl_run(&["get", "clusterrole", "system:auth-delegator", "-o", "name"])
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "kube-apiserver not ready after {limit:?} (last: {last}); log:\n{}",
                    self.apiserver_log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.processes.stop_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn client_from(path: &Path) -> Result<kube::Client, Error> {
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Client(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| Error::Client(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| Error::Client(e.to_string()))
}

/// Runs a command to completion; stdout when it succeeds, an error with stderr when not.
pub fn run(command: &mut Command, input: Option<&str>) -> Result<String, Error> {
    use std::io::Write as _;
    let shown = format!("{command:?}");
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let failed = |stderr: String| Error::Command {
        command: shown.clone(),
        stderr,
    };
    let mut child = command.spawn().map_err(|e| failed(e.to_string()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

/// `object` without the metadata a server sets, so it can be stored anew.
pub fn fresh(mut object: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = object
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        for key in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            meta.remove(key);
        }
    }
    object
}
