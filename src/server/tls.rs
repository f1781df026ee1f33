//! TLS profiles and the rustls `ServerConfig` built from them.
//!
//! Only the `ring` provider is ever used: it is passed explicitly to every builder here, so the
//! process-wide default provider (and whatever crate features other dependencies turn on) cannot
//! change what the server offers. The profiles follow OpenShift's `TLSSecurityProfile`
//! (Mozilla Server Side TLS 5.x), restricted to what rustls implements:
//!
//! | profile        | versions     | TLS 1.2 suites                               |
//! |----------------|--------------|----------------------------------------------|
//! | `intermediate` | 1.2 and 1.3  | ECDHE-{ECDSA,RSA} with AES-GCM or ChaCha20    |
//! | `modern`       | 1.3 only     | none                                         |
//!
//! The `cluster` profile (follow `apiserver.config.openshift.io/cluster`) is resolved at run time
//! to a [`TlsPolicy`] by [`super::openshift_profile`]; nothing else in the transport depends on
//! [`TlsProfile`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite as suites;
use rustls::server::ResolvesServerCert;
use rustls::{ProtocolVersion, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

/// ALPN identifier of HTTP/1.1, the only protocol offered by default.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// ALPN identifier of HTTP/2, offered only when HTTP/2 is switched on.
pub const ALPN_H2: &[u8] = b"h2";

/// Which TLS profile the server follows; selected on the command line.
///
/// The names (`intermediate`, `modern`) are what `clap` and [`FromStr`] accept, matching the
/// OpenShift profile names in lower case. The command line's `cluster` choice is not one of
/// these: it resolves to a [`TlsPolicy`] at run time (see [`super::openshift_profile`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum TlsProfile {
    /// TLS 1.2 and 1.3, ECDHE key exchange and AEAD ciphers only. OpenShift's default.
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
}

impl TlsProfile {
    /// Every profile, in the order they are documented; for help texts and tests.
    pub const ALL: [TlsProfile; 2] = [TlsProfile::Intermediate, TlsProfile::Modern];

    /// The profile's name as accepted on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TlsProfile::Intermediate => "intermediate",
            TlsProfile::Modern => "modern",
        }
    }

    /// The protocol versions and cipher suites this profile allows.
    pub fn policy(self) -> TlsPolicy {
        match self {
            TlsProfile::Intermediate => TlsPolicy {
                versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
                cipher_suites: [
                    TLS13_SUITES.as_slice(),
                    INTERMEDIATE_TLS12_SUITES.as_slice(),
                ]
                .concat(),
            },
            TlsProfile::Modern => TlsPolicy {
                versions: vec![&rustls::version::TLS13],
                cipher_suites: TLS13_SUITES.to_vec(),
            },
        }
    }
}

impl fmt::Display for TlsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TlsProfile {
    type Err = TlsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TlsProfile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| TlsError::UnknownProfile(s.to_owned()))
    }
}

/// TLS 1.3 suites, in Mozilla's order. TLS 1.3 suites are all AEAD with ephemeral key exchange.
pub(crate) const TLS13_SUITES: [SupportedCipherSuite; 3] = [
    suites::TLS13_AES_128_GCM_SHA256,
    suites::TLS13_AES_256_GCM_SHA384,
    suites::TLS13_CHACHA20_POLY1305_SHA256,
];

/// TLS 1.2 suites of the Intermediate profile, in Mozilla's order: ECDHE (forward secrecy) and
/// AEAD (GCM or ChaCha20-Poly1305) only. rustls has no CBC, RSA key exchange or SHA-1 MAC suites
/// at all; this list makes the choice explicit rather than inherited from a default.
const INTERMEDIATE_TLS12_SUITES: [SupportedCipherSuite; 6] = [
    suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    suites::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    suites::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    suites::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// What a profile resolves to: the protocol versions and cipher suites the server offers.
///
/// Kept separate from [`TlsProfile`] so that profiles resolved at run time (OpenShift's
/// `cluster` profile, including `Custom`) can produce one without a new enum variant here.
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    versions: Vec<&'static SupportedProtocolVersion>,
    cipher_suites: Vec<SupportedCipherSuite>,
}

impl TlsPolicy {
    /// Builds a policy from explicit parts, refusing one that could never complete a handshake
    /// (no versions, or a version without a single suite).
    pub fn from_parts(
        versions: Vec<&'static SupportedProtocolVersion>,
        cipher_suites: Vec<SupportedCipherSuite>,
    ) -> Result<Self, TlsError> {
        if versions.is_empty() {
            return Err(TlsError::EmptyPolicy("no protocol versions".to_owned()));
        }
        for v in &versions {
            if !cipher_suites.iter().any(|s| s.version() == *v) {
                return Err(TlsError::EmptyPolicy(format!(
                    "no cipher suite for {:?}",
                    v.version
                )));
            }
        }
        Ok(TlsPolicy {
            versions,
            cipher_suites,
        })
    }

    /// The protocol versions offered, highest first.
    pub fn versions(&self) -> &[&'static SupportedProtocolVersion] {
        &self.versions
    }

    /// Whether a protocol version (e.g. `ProtocolVersion::TLSv1_2`) is offered.
    pub fn allows(&self, version: ProtocolVersion) -> bool {
        self.versions.iter().any(|v| v.version == version)
    }

    /// The cipher suites offered, in preference order.
    pub fn cipher_suites(&self) -> &[SupportedCipherSuite] {
        &self.cipher_suites
    }

    /// The `ring` crypto provider narrowed to this policy's cipher suites. Key-exchange groups
    /// are ring's defaults (X25519, P-256, P-384): all ephemeral.
    pub fn provider(&self) -> CryptoProvider {
        CryptoProvider {
            cipher_suites: self.cipher_suites.clone(),
            ..rustls::crypto::ring::default_provider()
        }
    }
}

impl TlsPolicy {
    /// Whether two policies offer the same versions and suites in the same order: a profile
    /// re-read from the cluster replaces the served configuration only when this is false.
    pub fn same_as(&self, other: &TlsPolicy) -> bool {
        let versions = |p: &TlsPolicy| p.versions.iter().map(|v| v.version).collect::<Vec<_>>();
        let suites = |p: &TlsPolicy| {
            p.cipher_suites
                .iter()
                .map(SupportedCipherSuite::suite)
                .collect::<Vec<_>>()
        };
        versions(self) == versions(other) && suites(self) == suites(other)
    }
}

/// The server configuration new handshakes use, replaceable while the server runs (the
/// `cluster` profile follows the APIServer object). Connections already open keep the
/// configuration they were accepted with.
#[derive(Clone)]
pub struct TlsConfigHandle(Arc<arc_swap::ArcSwap<ServerConfig>>);

impl TlsConfigHandle {
    /// A handle serving `config` until [`replace`](Self::replace)d.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self(Arc::new(arc_swap::ArcSwap::new(config)))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.load_full()
    }

    /// Serves `config` from the next handshake on.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        self.0.store(config);
    }
}

impl From<Arc<ServerConfig>> for TlsConfigHandle {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::new(config)
    }
}

impl fmt::Debug for TlsConfigHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigHandle").finish_non_exhaustive()
    }
}

/// Errors building the TLS configuration; each says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A profile name that is not one of [`TlsProfile::ALL`].
    #[error("unknown TLS profile {0:?} (expected one of: intermediate, modern)")]
    UnknownProfile(String),
    /// A policy that could never complete a handshake.
    #[error("TLS policy cannot complete a handshake: {0}")]
    EmptyPolicy(String),
    /// rustls refused the combination of versions and suites.
    #[error("rustls refused the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the server's rustls configuration from a policy and a certificate source.
///
/// - crypto: the `ring` provider, narrowed to the policy's suites; never the process default;
/// - versions: exactly the policy's;
/// - ALPN: `http/1.1`, plus `h2` (preferred) only when `http2` is true;
/// - no client authentication (callers authenticate with bearer tokens at the HTTP layer);
/// - TLS 1.3 early data (0-RTT) off, so requests cannot be replayed;
/// - session resumption: rustls defaults (stateful cache, TLS 1.3 tickets);
/// - the certificate comes from `certs` at every handshake, so it can be swapped without
///   rebuilding this configuration (see [`super::certs::ReloadingCert`]).
pub fn server_config(
    policy: &TlsPolicy,
    http2: bool,
    certs: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(policy.provider()))
        .with_protocol_versions(policy.versions())?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = alpn_protocols(http2);
    config.max_early_data_size = 0;
    config.send_half_rtt_data = false;
    Ok(config)
}

/// The ALPN list for the given HTTP/2 switch, most preferred first.
pub fn alpn_protocols(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()]
    } else {
        vec![ALPN_HTTP1.to_vec()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    #[test]
    fn names_round_trip_and_match_clap() {
        use clap::ValueEnum;
        for p in TlsProfile::ALL {
            assert_eq!(p.name().parse::<TlsProfile>().unwrap(), p);
            assert_eq!(p.to_possible_value().unwrap().get_name(), p.name());
        }
        assert!("old".parse::<TlsProfile>().is_err());
        assert!("Modern".parse::<TlsProfile>().is_err());
        assert_eq!(TlsProfile::default(), TlsProfile::Intermediate);
    }

    #[test]
    fn intermediate_is_tls12_and_13_with_ecdhe_aead_only() {
        let policy = TlsProfile::Intermediate.policy();
        assert!(policy.allows(ProtocolVersion::TLSv1_2));
        assert!(policy.allows(ProtocolVersion::TLSv1_3));
        assert!(!policy.allows(ProtocolVersion::TLSv1_1));
        for suite in policy.cipher_suites() {
            let name = format!("{:?}", suite.suite());
            let aead = name.contains("_GCM_") || name.contains("_CHACHA20_POLY1305_");
            assert!(aead, "{name} is not AEAD");
            if suite.version() == &rustls::version::TLS12 {
                assert!(name.starts_with("TLS_ECDHE_"), "{name} is not ECDHE");
            }
        }
        let tls12 = policy
            .cipher_suites()
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .count();
        assert_eq!(tls12, 6);
        assert!(
            policy
                .cipher_suites()
                .iter()
                .any(|s| s.suite() == CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        );
    }

    #[test]
    fn modern_is_tls13_only() {
        let policy = TlsProfile::Modern.policy();
        assert!(policy.allows(ProtocolVersion::TLSv1_3));
        assert!(!policy.allows(ProtocolVersion::TLSv1_2));
        assert!(
            policy
                .cipher_suites()
                .iter()
                .all(|s| s.version() == &rustls::version::TLS13)
        );
    }

    #[test]
    fn policy_refuses_versions_without_suites() {
        let err = TlsPolicy::from_parts(vec![&rustls::version::TLS12], TLS13_SUITES.to_vec());
        assert!(matches!(err, Err(TlsError::EmptyPolicy(_))));
        assert!(TlsPolicy::from_parts(vec![], TLS13_SUITES.to_vec()).is_err());
    }

    #[test]
    fn alpn_is_http1_only_unless_http2() {
        assert_eq!(alpn_protocols(false), vec![b"http/1.1".to_vec()]);
        assert_eq!(
            alpn_protocols(true),
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
