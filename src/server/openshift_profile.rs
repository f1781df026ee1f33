//! OpenShift's `TLSSecurityProfile` (`apiserver.config.openshift.io/cluster`
//! `spec.tlsSecurityProfile`) resolved to what rustls can offer, for `--tls-profile=cluster`.
//!
//! | cluster profile | served                                                           |
//! |-----------------|------------------------------------------------------------------|
//! | unset           | `intermediate` (the platform's documented default)                |
//! | `Intermediate`  | `intermediate`                                                   |
//! | `Modern`        | `modern`                                                         |
//! | `Old`           | `intermediate`: TLS < 1.2, CBC and 3DES do not exist in rustls    |
//! | `Custom`        | its `minTLSVersion` (never below 1.2) and the TLS 1.2 `ciphers` rustls implements, in the given order |
//! | anything else   | `intermediate`, with a warning                                   |
//!
//! Whatever cannot be honoured exactly is listed in [`ResolvedProfile::notes`], so the caller
//! can log it: an administrator who asked for something must learn that it is not served.

use serde::Deserialize;

use super::tls::{TLS13_SUITES, TlsError, TlsPolicy, TlsProfile};

/// The profile as the APIServer object states it (`config.openshift.io/v1` `TLSSecurityProfile`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TlsSecurityProfile {
    /// `Old`, `Intermediate`, `Modern` or `Custom`; absent means the platform default.
    #[serde(rename = "type", default)]
    pub profile_type: Option<String>,
    /// The settings of a `Custom` profile.
    #[serde(default)]
    pub custom: Option<CustomProfile>,
}

/// A `Custom` profile's settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CustomProfile {
    /// OpenSSL cipher names (`ECDHE-RSA-AES128-GCM-SHA256`); TLS 1.3 suites are not configurable.
    #[serde(default)]
    pub ciphers: Vec<String>,
    /// `VersionTLS10` … `VersionTLS13`.
    #[serde(default, rename = "minTLSVersion")]
    pub min_tls_version: Option<String>,
}

/// What a cluster profile resolves to.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    /// The versions and suites to serve.
    pub policy: TlsPolicy,
    /// A short name for logs: `Intermediate`, `Modern`, `Custom`, or `Old (served as Intermediate)`.
    pub name: String,
    /// What was asked for and is not served exactly; empty when the profile maps one to one.
    pub notes: Vec<String>,
}

/// The TLS 1.2 suites rustls implements, by OpenSSL name (as OpenShift profiles write them) and
/// by IANA name (as Go's `crypto/tls` and the CVO's injected `servingInfo` write them).
const TLS12_SUITES_BY_NAME: [(&str, &str, rustls::SupportedCipherSuite); 6] = {
    use rustls::crypto::ring::cipher_suite as s;
    [
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            s::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            s::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            s::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            s::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            s::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            s::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// TLS 1.3 suite names, which a profile may list but which are always on.
const TLS13_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Resolves the cluster's profile (`None`: the APIServer object or its profile is absent).
pub fn resolve(profile: Option<&TlsSecurityProfile>) -> Result<ResolvedProfile, TlsError> {
    let fixed = |profile: TlsProfile, name: &str, notes: Vec<String>| ResolvedProfile {
        policy: profile.policy(),
        name: name.to_owned(),
        notes,
    };
    let Some(profile) = profile else {
        return Ok(fixed(TlsProfile::Intermediate, "Intermediate", Vec::new()));
    };
    match profile.profile_type.as_deref() {
        None | Some("") | Some("Intermediate") => {
            Ok(fixed(TlsProfile::Intermediate, "Intermediate", Vec::new()))
        }
        Some("Modern") => Ok(fixed(TlsProfile::Modern, "Modern", Vec::new())),
        Some("Old") => Ok(fixed(
            TlsProfile::Intermediate,
            "Old (served as Intermediate)",
            vec![
                "the Old profile's TLS 1.0/1.1 and CBC/3DES ciphers are not implemented by \
                 rustls; serving Intermediate"
                    .to_owned(),
            ],
        )),
        Some("Custom") => custom(profile.custom.as_ref()),
        Some(other) => Ok(fixed(
            TlsProfile::Intermediate,
            "Intermediate",
            vec![format!(
                "unknown TLS profile type {:?}; serving Intermediate",
                bounded(other)
            )],
        )),
    }
}

/// A `Custom` profile: its minimum version (raised to 1.2) and the TLS 1.2 suites it lists that
/// rustls implements, in the administrator's order.
fn custom(custom: Option<&CustomProfile>) -> Result<ResolvedProfile, TlsError> {
    let mut notes = Vec::new();
    let empty = CustomProfile::default();
    let custom = custom.unwrap_or(&empty);
    let tls12 = match custom.min_tls_version.as_deref() {
        Some("VersionTLS13") => false,
        Some("VersionTLS12") => true,
        None | Some("") => {
            notes.push("the Custom profile sets no minTLSVersion; serving TLS 1.2 and 1.3".into());
            true
        }
        Some(v @ ("VersionTLS10" | "VersionTLS11")) => {
            notes.push(format!(
                "minTLSVersion {v} is below what rustls implements; serving TLS 1.2 and 1.3"
            ));
            true
        }
        Some(other) => {
            notes.push(format!(
                "unknown minTLSVersion {:?}; serving TLS 1.2 and 1.3",
                bounded(other)
            ));
            true
        }
    };
    let mut suites = TLS13_SUITES.to_vec();
    let mut unsupported = Vec::new();
    if tls12 {
        for name in &custom.ciphers {
            let found = TLS12_SUITES_BY_NAME
                .iter()
                .find(|(openssl, iana, _)| name == openssl || name == iana);
            match found {
                Some((_, _, suite)) if !suites.contains(suite) => suites.push(*suite),
                Some(_) => {}
                None if TLS13_NAMES.contains(&name.as_str()) => {}
                None => unsupported.push(bounded(name)),
            }
        }
        if !unsupported.is_empty() {
            notes.push(format!(
                "ciphers not offered (rustls does not implement them, or they are not ECDHE with AEAD): {}",
                unsupported.join(", ")
            ));
        }
    }
    let mut versions = vec![&rustls::version::TLS13];
    if tls12 && suites.len() > TLS13_SUITES.len() {
        versions.push(&rustls::version::TLS12);
    } else if tls12 {
        notes.push(
            "the Custom profile lists no TLS 1.2 cipher rustls implements; serving TLS 1.3 only"
                .into(),
        );
    }
    Ok(ResolvedProfile {
        policy: TlsPolicy::from_parts(versions, suites)?,
        name: "Custom".to_owned(),
        notes,
    })
}

/// Text from the cluster, cut short for a log line.
fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::ProtocolVersion;

    fn profile(json: serde_json::Value) -> TlsSecurityProfile {
        serde_json::from_value(json).unwrap()
    }

    fn tls12_suites(policy: &TlsPolicy) -> Vec<String> {
        policy
            .cipher_suites()
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    #[test]
    fn absent_and_intermediate_serve_intermediate() {
        for p in [
            None,
            Some(profile(serde_json::json!({}))),
            Some(profile(
                serde_json::json!({"type": "Intermediate", "intermediate": {}}),
            )),
        ] {
            let resolved = resolve(p.as_ref()).unwrap();
            assert_eq!(resolved.name, "Intermediate");
            assert!(resolved.notes.is_empty(), "{:?}", resolved.notes);
            assert!(resolved.policy.allows(ProtocolVersion::TLSv1_2));
            assert_eq!(tls12_suites(&resolved.policy).len(), 6);
        }
    }

    #[test]
    fn modern_is_tls13_only() {
        let resolved = resolve(Some(&profile(
            serde_json::json!({"type": "Modern", "modern": {}}),
        )))
        .unwrap();
        assert!(!resolved.policy.allows(ProtocolVersion::TLSv1_2));
        assert!(resolved.policy.allows(ProtocolVersion::TLSv1_3));
        assert!(resolved.notes.is_empty());
    }

    #[test]
    fn old_is_served_as_intermediate_and_says_so() {
        let resolved = resolve(Some(&profile(serde_json::json!({"type": "Old"})))).unwrap();
        assert!(resolved.policy.allows(ProtocolVersion::TLSv1_2));
        assert!(!resolved.policy.allows(ProtocolVersion::TLSv1_1));
        assert!(resolved.name.contains("Intermediate"));
        assert_eq!(resolved.notes.len(), 1);
    }

    #[test]
    fn custom_keeps_the_listed_aead_suites_in_order_and_names_the_rest() {
        let resolved = resolve(Some(&profile(serde_json::json!({
            "type": "Custom",
            "custom": {
                "minTLSVersion": "VersionTLS11",
                "ciphers": [
                    "ECDHE-RSA-CHACHA20-POLY1305",
                    "TLS_AES_128_GCM_SHA256",
                    "ECDHE-RSA-AES128-SHA",
                    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    "ECDHE-RSA-CHACHA20-POLY1305",
                    "AES128-GCM-SHA256"
                ]
            }
        }))))
        .unwrap();
        assert_eq!(
            tls12_suites(&resolved.policy),
            [
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(resolved.policy.allows(ProtocolVersion::TLSv1_3));
        let notes = resolved.notes.join("\n");
        assert!(notes.contains("VersionTLS11"), "{notes}");
        assert!(
            notes.contains("ECDHE-RSA-AES128-SHA, AES128-GCM-SHA256"),
            "{notes}"
        );
        assert!(!notes.contains("TLS_AES_128_GCM_SHA256"), "{notes}");
    }

    #[test]
    fn custom_tls13_ignores_ciphers() {
        let resolved = resolve(Some(&profile(serde_json::json!({
            "type": "Custom",
            "custom": {"minTLSVersion": "VersionTLS13", "ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"]}
        }))))
        .unwrap();
        assert!(!resolved.policy.allows(ProtocolVersion::TLSv1_2));
        assert!(resolved.notes.is_empty(), "{:?}", resolved.notes);
    }

    #[test]
    fn custom_without_usable_tls12_suites_falls_back_to_tls13_only() {
        let resolved = resolve(Some(&profile(serde_json::json!({
            "type": "Custom",
            "custom": {"minTLSVersion": "VersionTLS12", "ciphers": ["DES-CBC3-SHA"]}
        }))))
        .unwrap();
        assert!(!resolved.policy.allows(ProtocolVersion::TLSv1_2));
        assert!(resolved.policy.allows(ProtocolVersion::TLSv1_3));
        assert_eq!(resolved.notes.len(), 2, "{:?}", resolved.notes);
    }

    #[test]
    fn unknown_type_serves_intermediate_with_a_note() {
        let resolved = resolve(Some(&profile(serde_json::json!({"type": "Paranoid"})))).unwrap();
        assert!(resolved.policy.allows(ProtocolVersion::TLSv1_2));
        assert!(resolved.notes[0].contains("Paranoid"));
    }
}
