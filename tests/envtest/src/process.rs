//! The etcd and kube-apiserver processes, and the watchdog that stops them when the test binary
//! exits in any way (statics are never dropped; a test may panic; a run may be killed).

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::{API_AUDIENCE, Error, Pki};

/// The two server processes of one control plane.
pub(crate) struct Processes {
    etcd: Mutex<Option<Child>>,
    apiserver: Mutex<Option<Child>>,
    etcd_port: u16,
    apiserver_port: u16,
}

/// A port free now. Another process could take it before the server binds it; on a test machine
/// that is rare enough, and the start fails loudly when it happens.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Start(format!("no free port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Start(format!("no free port on 127.0.0.1: {e}")))
}

fn log_file(dir: &Path, name: &str) -> Result<(File, File), Error> {
    let path = dir.join(name);
    let file = File::options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let copy = file.try_clone().map_err(|e| Error::io(&path, e))?;
    Ok((file, copy))
}

fn spawn(command: &mut Command, dir: &Path, log: &str) -> Result<Child, Error> {
    let (out, err) = log_file(dir, log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::Start(format!("cannot start {command:?}: {e}")))?;
    let pid_file = dir.join(log.replace(".log", ".pid"));
    std::fs::write(&pid_file, child.id().to_string()).map_err(|e| Error::io(&pid_file, e))?;
    Ok(child)
}

impl Processes {
    /// Starts etcd, the watchdog and the API server (not yet ready when this returns).
    pub(crate) fn start(assets: &Path, dir: &Path, pki: &Pki) -> Result<Self, Error> {
        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let data = dir.join("etcd-data");
        let client_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = spawn(
            Command::new(assets.join("etcd"))
                .arg("--name=envtest")
                .arg(format!("--data-dir={}", data.display()))
                .arg("--unsafe-no-fsync")
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=envtest={peer_url}")),
            dir,
            "etcd.log",
        )?;
        let processes = Processes {
            etcd: Mutex::new(Some(etcd)),
            apiserver: Mutex::new(None),
            etcd_port,
            apiserver_port: free_port()?,
        };
        watchdog(dir)?;
        processes.start_apiserver(assets, dir, pki)?;
        Ok(processes)
    }

    pub(crate) fn apiserver_port(&self) -> u16 {
        self.apiserver_port
    }

    /// Starts the API server on its port (after [`Processes::stop_apiserver`], the same one).
    pub(crate) fn start_apiserver(
        &self,
        assets: &Path,
        dir: &Path,
        pki: &Pki,
    ) -> Result<(), Error> {
        let certs = dir.join("apiserver-certs");
        let p = |path: &Path| path.display().to_string();
        let child = spawn(
            Command::new(assets.join("kube-apiserver"))
                .arg("--bind-address=127.0.0.1")
                .arg("--advertise-address=127.0.0.1")
                .arg(format!("--secure-port={}", self.apiserver_port))
                .arg(format!(
                    "--etcd-servers=http://127.0.0.1:{}",
                    self.etcd_port
                ))
                .arg(format!("--tls-cert-file={}", p(&pki.serving_cert)))
                .arg(format!("--tls-private-key-file={}", p(&pki.serving_key)))
                .arg(format!("--client-ca-file={}", p(&pki.ca_cert)))
                .arg(format!("--service-account-issuer={API_AUDIENCE}"))
                .arg(format!("--service-account-key-file={}", p(&pki.sa_pub)))
                .arg(format!(
                    "--service-account-signing-key-file={}",
                    p(&pki.sa_key)
                ))
                .arg(format!("--api-audiences={API_AUDIENCE}"))
                .arg("--authorization-mode=RBAC")
                .arg("--service-cluster-ip-range=10.0.0.0/24")
                .arg("--endpoint-reconciler-type=none")
                .arg(format!("--cert-dir={}", p(&certs))),
            dir,
            "kube-apiserver.log",
        )?;
        let mut slot = self
            .apiserver
            .lock()
            .map_err(|_| Error::Start("the API server's slot was poisoned".into()))?;
        if let Some(mut old) = slot.replace(child) {
            stop(&mut old);
        }
        Ok(())
    }

    /// Kills the API server and waits for it to exit.
    pub(crate) fn stop_apiserver(&self) -> Result<(), Error> {
        let mut slot = self
            .apiserver
            .lock()
            .map_err(|_| Error::Start("the API server's slot was poisoned".into()))?;
        if let Some(mut child) = slot.take() {
            stop(&mut child);
        }
        Ok(())
    }

    /// An error when a process that should run has exited.
    pub(crate) fn check_alive(&self) -> Result<(), Error> {
        for (name, slot) in [("etcd", &self.etcd), ("kube-apiserver", &self.apiserver)] {
            if let Ok(mut slot) = slot.lock()
                && let Some(child) = slot.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::Start(format!("{name} exited: {status}")));
            }
        }
        Ok(())
    }

    /// Stops the API server, then etcd.
    pub(crate) fn stop_all(&self) {
        for slot in [&self.apiserver, &self.etcd] {
            if let Ok(mut slot) = slot.lock()
                && let Some(mut child) = slot.take()
            {
                stop(&mut child);
            }
        }
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A shell that waits for this process to end, then kills whatever the pid files name and removes
/// the directory. It polls once a second, so a control plane outlives its test binary by at most
/// about that.
fn watchdog(dir: &Path) -> Result<(), Error> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         for f in '{dir}'/*.pid; do kill -9 $(cat \"$f\") 2>/dev/null; done; \
         sleep 1; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Start(format!("cannot start the watchdog shell: {e}")))?;
    Ok(())
}
