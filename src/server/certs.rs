//! The serving certificate: loaded from PEM files, swapped at run time when the files change.
//!
//! On OpenShift the certificate comes from the service CA, through a Secret mounted as a volume.
//! The kubelet updates such a volume by writing a new timestamped directory and atomically
//! renaming a `..data` symlink onto it; `tls.crt` and `tls.key` are symlinks through `..data`.
//! A watch on the files themselves sees the old inode go away and then nothing, so this module
//! watches the **directory** holding them (notify 8), debounces the burst of events a swap makes,
//! and also polls on a timer comparing a SHA-256 of the contents, in case events are missed
//! (some volume types deliver none).
//!
//! A new pair is used only if it parses and the key matches the leaf certificate; otherwise the
//! current pair keeps being served and a warning is logged. Handshakes already done are not
//! affected either way: rustls asks [`ReloadingCert`] for a certificate per handshake.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode, Watcher};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the reloader notices changes; the defaults suit a mounted Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadConfig {
    /// Wait this long after a file-system event before reloading, so that the several events of
    /// one Secret update (new directory, new symlink, rename) cause one reload. Default 300 ms.
    pub debounce: Duration,
    /// Re-read the files this often even without events; a content hash makes an unchanged
    /// re-read free of effects. Default 60 s (what Kubernetes' own dynamic certificates use).
    pub poll_interval: Duration,
    /// Watch the files' directories for changes. Default on; turn off for file systems that
    /// deliver no events (polling alone then finds changes).
    pub watch: bool,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            debounce: Duration::from_millis(300),
            poll_interval: Duration::from_secs(60),
            watch: true,
        }
    }
}

/// What a reload attempt did, for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold what was last read (served, or already refused): nothing to do.
    Unchanged,
    /// A new certificate and key were loaded and are served from the next handshake on.
    Reloaded,
}

/// Why a certificate or key could not be loaded. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file could not be read (missing, permissions, a dangling symlink mid-swap).
    #[error("cannot read the {what} file {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not PEM, or the PEM sections of the expected kind are malformed.
    #[error("the {what} file {} is not valid PEM: {source}", path.display())]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// What the PEM parser said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    #[error("the certificate file {} holds no certificate", path.display())]
    NoCertificate {
        /// The path as configured.
        path: PathBuf,
    },
    /// The key is unusable with ring, or does not match the leaf certificate.
    #[error(
        "the private key in {} cannot be used with the certificate in {}: {source}",
        key.display(),
        cert.display()
    )]
    KeyPair {
        /// The certificate path.
        cert: PathBuf,
        /// The key path.
        key: PathBuf,
        /// What rustls said (e.g. key mismatch, unsupported key type).
        #[source]
        source: rustls::Error,
    },
}

/// The serving certificate and key, swappable while the server runs.
///
/// Implements [`ResolvesServerCert`], so a `rustls::ServerConfig` built once keeps serving the
/// latest good pair. The private key is never logged ([`fmt::Debug`] shows only the paths and
/// the generation).
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// SHA-256 of the contents last read, whether they loaded or not, so a bad pair is reported
    /// once rather than at every poll.
    last_seen: Mutex<[u8; 32]>,
    generation: watch::Sender<u64>,
    failures: AtomicU64,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("generation", &*self.generation.borrow())
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair once; startup fails if this fails, because there is nothing to serve.
    ///
    /// The certificate file holds the leaf first, then any intermediates (the service CA's
    /// `tls.crt` layout); the key file holds one PKCS#8, PKCS#1 or SEC1 private key.
    pub fn load(
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Result<Arc<Self>, CertError> {
        let cert_path = cert_path.into();
        let key_path = key_path.into();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert_pem, key_pem) = read_pair(&cert_path, &key_path)?;
        let key = parse_pair(&cert_path, &key_path, &cert_pem, &key_pem, &provider)?;
        let (generation, _) = watch::channel(0);
        Ok(Arc::new(ReloadingCert {
            last_seen: Mutex::new(content_hash(&cert_pem, &key_pem)),
            cert_path,
            key_path,
            provider,
            current: ArcSwap::from_pointee(key),
            generation,
            failures: AtomicU64::new(0),
        }))
    }

    /// Re-reads the files now and swaps in the new pair if it changed and is valid.
    ///
    /// On error the current pair stays in use. The same bad contents are reported once: a later
    /// call returns [`ReloadOutcome::Unchanged`] until the files change again.
    pub fn reload(&self) -> Result<ReloadOutcome, CertError> {
        let result = self.try_reload();
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn try_reload(&self) -> Result<ReloadOutcome, CertError> {
        let (cert_pem, key_pem) = read_pair(&self.cert_path, &self.key_path)?;
        let hash = content_hash(&cert_pem, &key_pem);
        {
            let mut last = self
                .last_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == hash {
                return Ok(ReloadOutcome::Unchanged);
            }
            *last = hash;
        }
        let key = parse_pair(
            &self.cert_path,
            &self.key_path,
            &cert_pem,
            &key_pem,
            &self.provider,
        )?;
        self.current.store(Arc::new(key));
        self.generation.send_modify(|g| *g += 1);
        Ok(ReloadOutcome::Reloaded)
    }

    /// The pair served to new handshakes right now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// How many times a new pair was swapped in (0 = still the one from [`ReloadingCert::load`]).
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Follows [`ReloadingCert::generation`]; for tests, metrics and readiness.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// How many reload attempts failed (the old pair was kept); for metrics.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The certificate file path as configured.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The key file path as configured.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// Starts watching the files' directories and polling, until `shutdown` is cancelled.
    ///
    /// Must be called inside a Tokio runtime. If the directory watch cannot be set up (e.g. the
    /// inotify limit is reached) this logs a warning and relies on polling alone: a missing
    /// watch delays reloads, it does not stop the server.
    pub fn spawn_reloader(
        self: &Arc<Self>,
        config: ReloadConfig,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        // Capacity 1: a pending trigger already covers any later event.
        let (tx, rx) = mpsc::channel(1);
        let watcher = match config.watch.then(|| self.watch_dirs(tx)) {
            None => None,
            Some(Ok(w)) => Some(w),
            Some(Err(e)) => {
                tracing::warn!(
                    error = %e,
                    cert = %self.cert_path.display(),
                    "cannot watch the certificate directory; relying on polling"
                );
                None
            }
        };
        tokio::spawn(Arc::clone(self).run_reloader(rx, watcher, config, shutdown))
    }

    fn watch_dirs(&self, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                // Reading the files (ours included) produces access events: not a change.
                Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
                Ok(_) => {
                    let _ = tx.try_send(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "certificate directory watch error");
                    let _ = tx.try_send(());
                }
            })?;
        let dirs: BTreeSet<PathBuf> = [&self.cert_path, &self.key_path]
            .into_iter()
            .map(|p| parent_dir(p))
            .collect();
        for dir in dirs {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        }
        Ok(watcher)
    }

    async fn run_reloader(
        self: Arc<Self>,
        mut events: mpsc::Receiver<()>,
        watcher: Option<notify::RecommendedWatcher>,
        config: ReloadConfig,
        shutdown: CancellationToken,
    ) {
        // Dropping the watcher stops the notify thread, so keep it for the task's lifetime.
        let _watcher = watcher;
        let period = config.poll_interval.max(Duration::from_millis(10));
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let trigger = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                Some(()) = events.recv() => {
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(config.debounce) => {}
                    }
                    while events.try_recv().is_ok() {}
                    "watch"
                }
                _ = poll.tick() => "poll",
            };
            let this = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || this.reload()).await {
                Ok(Ok(ReloadOutcome::Reloaded)) => tracing::info!(
                    trigger,
                    generation = self.generation(),
                    cert = %self.cert_path.display(),
                    "serving certificate reloaded"
                ),
                Ok(Ok(ReloadOutcome::Unchanged)) => {
                    tracing::trace!(trigger, "serving certificate unchanged");
                }
                Ok(Err(e)) => tracing::warn!(
                    trigger,
                    error = %e,
                    "new serving certificate refused; still serving the previous one"
                ),
                Err(e) => tracing::warn!(trigger, error = %e, "certificate reload task failed"),
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The directory to watch for a file path: its parent as written (not canonicalized: the
/// symlinks are what change), or the current directory for a bare file name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let cert = std::fs::read(cert_path).map_err(|source| CertError::Read {
        what: "certificate",
        path: cert_path.to_path_buf(),
        source,
    })?;
    let key = std::fs::read(key_path).map_err(|source| CertError::Read {
        what: "private key",
        path: key_path.to_path_buf(),
        source,
    })?;
    Ok((cert, key))
}

fn content_hash(cert_pem: &[u8], key_pem: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    // Length-prefix the first part so that moving bytes between the files changes the hash.
    h.update((cert_pem.len() as u64).to_le_bytes());
    h.update(cert_pem);
    h.update(key_pem);
    h.finalize().into()
}

fn parse_pair(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| CertError::Pem {
            what: "certificate",
            path: cert_path.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: cert_path.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| CertError::Pem {
        what: "private key",
        path: key_path.to_path_buf(),
        source,
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| CertError::KeyPair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
        let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    }

    #[test]
    fn loads_a_matching_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair("a.example");
        let (c, k) = write(dir.path(), &cert, &key);
        let rc = ReloadingCert::load(&c, &k).unwrap();
        assert_eq!(rc.generation(), 0);
        assert_eq!(rc.reload().unwrap(), ReloadOutcome::Unchanged);
        assert!(!format!("{rc:?}").contains("PRIVATE"));
    }

    #[test]
    fn errors_name_the_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair("a.example");
        let (_, other_key) = pair("b.example");

        let missing = ReloadingCert::load(dir.path().join("nope.crt"), dir.path().join("k"));
        let msg = missing.unwrap_err().to_string();
        assert!(
            msg.contains("certificate file") && msg.contains("nope.crt"),
            "{msg}"
        );

        let (c, k) = write(dir.path(), "not pem at all", &key);
        let msg = ReloadingCert::load(&c, &k).unwrap_err().to_string();
        assert!(msg.contains("holds no certificate"), "{msg}");

        let (c, k) = write(dir.path(), &cert, "garbage");
        let msg = ReloadingCert::load(&c, &k).unwrap_err().to_string();
        assert!(
            msg.contains("private key file") && msg.contains("tls.key"),
            "{msg}"
        );

        let (c, k) = write(dir.path(), &cert, &other_key);
        let err = ReloadingCert::load(&c, &k).unwrap_err();
        assert!(matches!(err, CertError::KeyPair { .. }), "{err}");
    }

    #[test]
    fn bad_update_keeps_the_old_pair_and_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair("a.example");
        let (c, k) = write(dir.path(), &cert, &key);
        let rc = ReloadingCert::load(&c, &k).unwrap();
        let before = rc.current();

        let (_, other_key) = pair("b.example");
        write(dir.path(), &cert, &other_key);
        assert!(rc.reload().is_err());
        assert_eq!(rc.reload().unwrap(), ReloadOutcome::Unchanged);
        assert_eq!(rc.failures(), 1);
        assert_eq!(rc.generation(), 0);
        assert_eq!(rc.current().cert, before.cert);

        let (cert2, key2) = pair("c.example");
        write(dir.path(), &cert2, &key2);
        assert_eq!(rc.reload().unwrap(), ReloadOutcome::Reloaded);
        assert_eq!(rc.generation(), 1);
        assert_ne!(rc.current().cert, before.cert);
    }
}
