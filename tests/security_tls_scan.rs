//! The served TLS, as an outside scanner sees it (SECURITY.md, information disclosure and
//! tampering in transit; checklist TLS-02, TLS-03, TLS-06, TLS-07): Debian's `sslscan` runs
//! against `serve` on 127.0.0.1 with the `intermediate` profile (with an ECDSA and with an RSA
//! certificate, as the two kinds of key select different TLS 1.2 suites) and with `modern`, and
//! its XML report (`--xml=-`) must show:
//!
//! - `intermediate`: TLS 1.2 and 1.3 only; every TLS 1.2 suite ECDHE with an AEAD cipher
//!   (AES-GCM or ChaCha20-Poly1305); `modern`: TLS 1.3 only, so no TLS 1.2 suite at all;
//! - no renegotiation (neither secure nor insecure, so no client-initiated renegotiation);
//! - no TLS compression (CRIME). Debian's OpenSSL is built without compression, so `sslscan`
//!   cannot offer it and leaves it out of its report; [`tls12_compression_is_never_negotiated`]
//!   offers DEFLATE itself in a hand-written TLS 1.2 ClientHello instead;
//! - the certificate's subject and SANs are the ones configured (a certificate made by the test).
//!
//! Where `sslscan` is not installed the scans say so and pass, except under `CI=true`, where
//! they fail: `.ci/run` installs it (`apt-get install sslscan`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use update_status_controller::cli::{Cli, Command, ServeArgs};
use update_status_controller::publish::dir::FILE_NAME;

#[path = "support/tools.rs"]
mod tools;
use tools::tool_available;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The subject (CN) and DNS SAN of the certificate the tests configure: the in-cluster name of
/// the Service, as OpenShift's service CA would issue it.
const SERVICE_NAME: &str = "update-status-controller.openshift-update-status.svc";

/// The TLS 1.3 suites (all AEAD by definition of TLS 1.3) in OpenSSL's names.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// A certificate and key written to files, as `--tls-cert-file` and `--tls-key-file` take them.
struct ServingCert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

/// A self-signed certificate for [`SERVICE_NAME`], `localhost` and 127.0.0.1 with `key`.
fn serving_cert(key: rcgen::KeyPair) -> ServingCert {
    let mut params =
        rcgen::CertificateParams::new(vec![SERVICE_NAME.to_owned(), "localhost".to_owned()])
            .unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SERVICE_NAME);
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    ServingCert {
        _dir: dir,
        cert: cert_path,
        key: key_path,
    }
}

fn ecdsa_cert() -> ServingCert {
    serving_cert(rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
}

/// With the repository's 2048-bit test RSA key (ring signs with RSA but does not generate keys).
fn rsa_cert() -> ServingCert {
    let pem = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/auth/rsa.key")).unwrap();
    serving_cert(rcgen::KeyPair::from_pem(&pem).unwrap())
}

/// `serve` in offline mode on a copy of the sample cluster, with `profile` and `cert`.
struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _cluster: tempfile::TempDir,
}

impl Server {
    async fn start(profile: &str, cert: &ServingCert) -> Self {
        let cluster = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(format!("{ROOT}/samples/cluster")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().unwrap() != FILE_NAME {
                std::fs::copy(&path, cluster.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let cli = Cli::parse_from([
            "update-status-controller",
            "serve",
            "--dev",
            "--cluster-dir",
            cluster.path().to_str().unwrap(),
            "--token-key-file",
            &format!("{ROOT}/certs-dev/token-signing.pub"),
            "--tls-cert-file",
            cert.cert.to_str().unwrap(),
            "--tls-key-file",
            cert.key.to_str().unwrap(),
            "--tls-profile",
            profile,
        ]);
        let Command::Serve(args) = cli.command else {
            unreachable!()
        };
        let args: ServeArgs = *args;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                update_status_controller::serve::run_with(&args, listener, shutdown)
                    .await
                    .unwrap();
            }
        });
        // Serving once a ClientHello gets an answer, a ServerHello or (for a profile or key
        // that does not take its suites) an alert; the sample cluster loads first.
        let deadline = Instant::now() + Duration::from_secs(30);
        while hello(addr, &[0]).await == Answer::Closed {
            assert!(Instant::now() < deadline, "not serving TLS within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            addr,
            shutdown,
            task,
            _cluster: cluster,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Runs `sslscan --xml=-` against `addr` (bounded at 90 s) and returns the XML.
async fn sslscan(addr: SocketAddr) -> String {
    let target = addr.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = Process::new("sslscan")
            .args(["--xml=-", "--no-colour", "--no-heartbleed", &target])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("sslscan did not finish within 90 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "sslscan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// The value of attribute `name` in one XML element.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = element[start..].find('"')?;
    Some(&element[start..start + len])
}

/// Every element `<tag ...>` of the report (sslscan writes one per line).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    xml.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&open))
        .collect()
}

/// The text of `<tag><![CDATA[...]]></tag>`.
fn cdata<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}><![CDATA["))? + tag.len() + 11;
    let len = xml[start..].find("]]>")?;
    Some(&xml[start..start + len])
}

/// What one scan found.
#[derive(Debug)]
struct Scan {
    /// `(protocol, enabled)`, e.g. `("tls 1.2", true)`.
    protocols: Vec<(String, bool)>,
    /// `(sslversion, cipher)` of every accepted suite.
    ciphers: Vec<(String, String)>,
    xml: String,
}

impl Scan {
    fn parse(xml: String) -> Self {
        let protocols = elements(&xml, "protocol")
            .into_iter()
            .map(|p| {
                (
                    format!(
                        "{} {}",
                        attr(p, "type").unwrap(),
                        attr(p, "version").unwrap()
                    ),
                    attr(p, "enabled") == Some("1"),
                )
            })
            .collect();
        let ciphers = elements(&xml, "cipher")
            .into_iter()
            .map(|c| {
                (
                    attr(c, "sslversion").unwrap().to_owned(),
                    attr(c, "cipher").unwrap().to_owned(),
                )
            })
            .collect();
        Self {
            protocols,
            ciphers,
            xml,
        }
    }

    fn enabled(&self) -> Vec<&str> {
        self.protocols
            .iter()
            .filter(|(_, on)| *on)
            .map(|(p, _)| p.as_str())
            .collect()
    }

    fn suites(&self, version: &str) -> Vec<&str> {
        self.ciphers
            .iter()
            .filter(|(v, _)| v == version)
            .map(|(_, c)| c.as_str())
            .collect()
    }

    /// What breaks the rules that hold for every profile (empty when all hold).
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.protocols.len() != 6 {
            problems.push(format!(
                "sslscan did not test SSLv2, SSLv3 and TLS 1.0-1.3: {:?}",
                self.protocols
            ));
        }
        for (version, cipher) in &self.ciphers {
            if version != "TLSv1.2" && version != "TLSv1.3" {
                problems.push(format!("{cipher} offered over {version}"));
            }
        }
        for cipher in self.suites("TLSv1.3") {
            if !TLS13_SUITES.contains(&cipher) {
                problems.push(format!("unexpected TLS 1.3 suite {cipher}"));
            }
        }
        for cipher in self.suites("TLSv1.2") {
            let aead = cipher.contains("-GCM-") || cipher.contains("-CHACHA20-POLY1305");
            if !cipher.starts_with("ECDHE-") || !aead {
                problems.push(format!(
                    "TLS 1.2 suite {cipher} is not ECDHE with an AEAD cipher"
                ));
            }
        }
        // Renegotiation: rustls implements none, so sslscan finds neither the secure (RFC 5746)
        // nor the insecure kind, and a client cannot initiate one.
        match elements(&self.xml, "renegotiation").as_slice() {
            [one] if attr(one, "supported") == Some("0") => {}
            other => problems.push(format!("renegotiation: {other:?}")),
        }
        // Present only when sslscan's OpenSSL can offer compression; then it must be off.
        for compression in elements(&self.xml, "compression") {
            if attr(compression, "supported") != Some("0") {
                problems.push(format!("compression: {compression}"));
            }
        }
        let subject = cdata(&self.xml, "subject");
        if subject != Some(SERVICE_NAME) {
            problems.push(format!("certificate subject {subject:?}"));
        }
        let altnames = cdata(&self.xml, "altnames").unwrap_or_default();
        for san in [
            format!("DNS:{SERVICE_NAME}"),
            "DNS:localhost".to_owned(),
            "IP Address:127.0.0.1".to_owned(),
        ] {
            if !altnames.contains(&san) {
                problems.push(format!("{san} not in the certificate's SANs {altnames:?}"));
            }
        }
        problems
    }

    /// Asserts everything that holds for every profile.
    fn assert_common(&self) {
        let problems = self.problems();
        assert!(problems.is_empty(), "{problems:#?}\n{}", self.xml);
    }

    fn print(&self, what: &str) {
        println!(
            "sslscan {what}: protocols {:?}; TLS 1.3 suites {:?}; TLS 1.2 suites {:?}; \
             renegotiation {:?}; compression {}",
            self.enabled(),
            self.suites("TLSv1.3"),
            self.suites("TLSv1.2"),
            elements(&self.xml, "renegotiation"),
            if elements(&self.xml, "compression").is_empty() {
                "not testable by sslscan's OpenSSL (see tls12_compression_is_never_negotiated)"
            } else {
                "tested"
            },
        );
    }
}

async fn scan(profile: &str, cert: &ServingCert) -> Scan {
    let server = Server::start(profile, cert).await;
    let scan = Scan::parse(sslscan(server.addr).await);
    server.stop().await;
    scan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslscan_intermediate_offers_tls12_and_tls13_with_ecdhe_aead_only() {
    if !tool_available("sslscan", "--version", "sslscan") {
        return;
    }
    let scan = scan("intermediate", &ecdsa_cert()).await;
    scan.print("intermediate, ECDSA certificate");
    scan.assert_common();
    assert_eq!(scan.enabled(), ["tls 1.2", "tls 1.3"]);
    let tls12 = scan.suites("TLSv1.2");
    assert!(!tls12.is_empty(), "no TLS 1.2 suite: {}", scan.xml);
    assert!(tls12.iter().all(|c| c.starts_with("ECDHE-ECDSA-")));
    assert_eq!(scan.suites("TLSv1.3").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslscan_intermediate_with_an_rsa_certificate_offers_ecdhe_rsa_aead_only() {
    if !tool_available("sslscan", "--version", "sslscan") {
        return;
    }
    let scan = scan("intermediate", &rsa_cert()).await;
    scan.print("intermediate, RSA certificate");
    scan.assert_common();
    assert_eq!(scan.enabled(), ["tls 1.2", "tls 1.3"]);
    let tls12 = scan.suites("TLSv1.2");
    assert!(!tls12.is_empty(), "no TLS 1.2 suite: {}", scan.xml);
    // No static-RSA key exchange: every suite is ECDHE-RSA.
    assert!(
        tls12.iter().all(|c| c.starts_with("ECDHE-RSA-")),
        "{tls12:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslscan_modern_offers_tls13_only() {
    if !tool_available("sslscan", "--version", "sslscan") {
        return;
    }
    let scan = scan("modern", &ecdsa_cert()).await;
    scan.print("modern");
    scan.assert_common();
    assert_eq!(scan.enabled(), ["tls 1.3"]);
    assert!(scan.suites("TLSv1.2").is_empty());
    assert_eq!(scan.suites("TLSv1.3").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Compression, with a ClientHello written by hand (no OpenSSL in Debian can offer it).

/// A TLS 1.2 ClientHello offering the ECDHE-ECDSA AEAD suites and `compression` methods.
fn client_hello(compression: &[u8]) -> Vec<u8> {
    fn u16be(n: usize) -> [u8; 2] {
        (n as u16).to_be_bytes()
    }
    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        [&kind.to_be_bytes()[..], &u16be(data.len()), data].concat()
    }
    let host = b"localhost";
    let server_name = [&u16be(host.len() + 3)[..], &[0], &u16be(host.len()), host].concat();
    let groups = [&u16be(4)[..], &[0x00, 0x1d, 0x00, 0x17]].concat(); // x25519, secp256r1
    let signatures = [&u16be(6)[..], &[0x04, 0x03, 0x08, 0x04, 0x04, 0x01]].concat();
    let extensions = [
        extension(0x0000, &server_name),
        extension(0x000a, &groups),
        extension(0x000b, &[1, 0]), // ec_point_formats: uncompressed
        extension(0x000d, &signatures),
        extension(0x0017, &[]),  // extended_master_secret
        extension(0xff01, &[0]), // renegotiation_info, initial
    ]
    .concat();
    // ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-CHACHA20-POLY1305
    let suites = [0xc0, 0x2b, 0xc0, 0x2c, 0xcc, 0xa9];
    let body = [
        &[0x03, 0x03][..], // TLS 1.2
        &[0x42; 32],       // random
        &[0],              // no session id
        &u16be(suites.len()),
        &suites,
        &[compression.len() as u8],
        compression,
        &u16be(extensions.len()),
        &extensions,
    ]
    .concat();
    let len = body.len();
    let handshake = [
        &[1, (len >> 16) as u8, (len >> 8) as u8, len as u8][..],
        &body,
    ]
    .concat();
    [&[0x16, 0x03, 0x01][..], &u16be(handshake.len()), &handshake].concat()
}

/// What the server answered a ClientHello with.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// A ServerHello choosing this compression method.
    ServerHello { compression: u8 },
    /// A TLS alert (level, description).
    Alert(u8, u8),
    /// The connection closed without either.
    Closed,
}

async fn hello(addr: SocketAddr, compression: &[u8]) -> Answer {
    let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
        return Answer::Closed;
    };
    if tcp.write_all(&client_hello(compression)).await.is_err() {
        return Answer::Closed;
    }
    let mut header = [0u8; 5];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut header)).await;
    if !matches!(read, Ok(Ok(_))) {
        return Answer::Closed;
    }
    let mut record = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut record)).await;
    if !matches!(read, Ok(Ok(_))) {
        return Answer::Closed;
    }
    match header[0] {
        0x15 => Answer::Alert(record[0], record[1]),
        0x16 => {
            assert_eq!(record[0], 2, "not a ServerHello: {record:?}");
            // type(1) length(3) version(2) random(32) session id (1 + n) suite(2) compression(1)
            let session_id = usize::from(record[38]);
            Answer::ServerHello {
                compression: record[39 + session_id + 2],
            }
        }
        other => panic!("unexpected record type {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_compression_is_never_negotiated() {
    let server = Server::start("intermediate", &ecdsa_cert()).await;
    // DEFLATE (1) offered first, null (0) second: the server must choose null.
    let offered = hello(server.addr, &[1, 0]).await;
    println!("ClientHello offering DEFLATE and null compression: {offered:?}");
    assert_eq!(offered, Answer::ServerHello { compression: 0 });
    // DEFLATE only: refused (illegal_parameter, 47), never a ServerHello.
    let only = hello(server.addr, &[1]).await;
    println!("ClientHello offering DEFLATE only: {only:?}");
    assert!(
        matches!(only, Answer::Alert(2, _) | Answer::Closed),
        "{only:?}"
    );
    server.stop().await;
}

#[test]
fn the_report_parser_reads_sslscan_xml() {
    // A fixed excerpt of sslscan 2.0.7's output, so the parsing is tested without the tool.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<document title="SSLScan Results" version="2.0.7" web="http://github.com/rbsec/sslscan">
 <ssltest host="127.0.0.1" sniname="127.0.0.1" port="18443">
  <protocol type="ssl" version="2" enabled="0" />
  <protocol type="ssl" version="3" enabled="0" />
  <protocol type="tls" version="1.0" enabled="0" />
  <protocol type="tls" version="1.1" enabled="1" />
  <protocol type="tls" version="1.2" enabled="1" />
  <protocol type="tls" version="1.3" enabled="1" />
  <renegotiation supported="1" secure="1" />
  <cipher status="preferred" sslversion="TLSv1.2" bits="256" cipher="AES256-SHA256" id="0x003D" strength="strong" />
  <certificates>
  <certificate type="short">
   <subject><![CDATA[localhost]]></subject>
   <altnames><![CDATA[DNS:localhost]]></altnames>
  </certificate>
 </certificates>
 </ssltest>
</document>"#;
    let scan = Scan::parse(xml.to_owned());
    assert_eq!(scan.enabled(), ["tls 1.1", "tls 1.2", "tls 1.3"]);
    assert_eq!(scan.suites("TLSv1.2"), ["AES256-SHA256"]);
    assert_eq!(cdata(xml, "subject"), Some("localhost"));
    assert_eq!(
        attr(elements(xml, "renegotiation")[0], "supported"),
        Some("1")
    );
    assert_eq!(
        scan.problems(),
        [
            "TLS 1.2 suite AES256-SHA256 is not ECDHE with an AEAD cipher",
            "renegotiation: [\"<renegotiation supported=\\\"1\\\" secure=\\\"1\\\" />\"]",
            "certificate subject Some(\"localhost\")",
            &format!("DNS:{SERVICE_NAME} not in the certificate's SANs \"DNS:localhost\""),
            "IP Address:127.0.0.1 not in the certificate's SANs \"DNS:localhost\"",
        ]
    );
}
