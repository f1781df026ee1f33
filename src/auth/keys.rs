//! Reads token keys from PEM and fixes the one algorithm each key is used with.
//!
//! The algorithm comes from the key, never from a token's header: that is what closes algorithm
//! confusion (an HS256 token "signed" with a public key, `alg: none`). RSA keys are RS256, EC P-256
//! keys ES256 and Ed25519 keys EdDSA; anything else is refused when the key is loaded, not when the
//! first token arrives.

use jsonwebtoken::crypto::{CryptoProvider, sign, verify};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// The signature algorithm of a token key, derived from the key's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, for RSA keys of at least [`MIN_RSA_BITS`] bits: what
    /// Kubernetes service-account issuers use by default.
    Rs256,
    /// ECDSA on P-256 with SHA-256: small keys and tokens; the development key's algorithm.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE name, as a token's `alg` header carries it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The smallest RSA modulus accepted (NIST SP 800-131A: 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// Why a key file was refused. Messages name the file's PEM label at most, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The bytes hold no PEM block.
    #[error("not a PEM file (no -----BEGIN line)")]
    NotPem,
    /// Several PEM blocks: which one is the key would be a guess.
    #[error("{count} PEM blocks; expected exactly one key")]
    SeveralBlocks {
        /// How many `-----BEGIN` lines were found.
        count: usize,
    },
    /// A PEM block of the wrong kind.
    #[error("PEM block is {found:?}, expected {expected}{hint}")]
    WrongLabel {
        /// The label found after `-----BEGIN`.
        found: String,
        /// The labels accepted.
        expected: &'static str,
        /// How to fix it, when we know.
        hint: &'static str,
    },
    /// A key type or size this server does not use.
    #[error("unsupported key: {0}")]
    Unsupported(&'static str),
    /// The key did not parse, or cannot sign or verify with its algorithm.
    #[error("unusable {algorithm} key")]
    Unusable {
        /// The algorithm the key was taken for.
        algorithm: SigningAlgorithm,
        /// What the JWT library said (about the key's encoding, never its content).
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// The build has no jsonwebtoken crypto provider; refusing here beats its panic on first use.
    #[error("no jsonwebtoken crypto provider is available in this build")]
    NoCryptoProvider,
}

const PUBLIC_LABELS: &str = "\"PUBLIC KEY\" or \"RSA PUBLIC KEY\"";
const PRIVATE_LABELS: &str = "\"PRIVATE KEY\" (PKCS#8) or \"RSA PRIVATE KEY\"";

/// The label of the one PEM block in `pem`.
fn pem_label(pem: &[u8]) -> Result<String, KeyError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeyError::NotPem)?;
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("-----BEGIN "))
        .map(|rest| rest.trim_end_matches('-'))
        .collect();
    match labels.as_slice() {
        [] => Err(KeyError::NotPem),
        [label] => Ok((*label).to_owned()),
        _ => Err(KeyError::SeveralBlocks {
            count: labels.len(),
        }),
    }
}

fn provider() -> Result<(), KeyError> {
    CryptoProvider::try_get_default()
        .map(|_| ())
        .ok_or(KeyError::NoCryptoProvider)
}

/// Reads a public key (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`) and the algorithm it
/// verifies, and proves the key can build a verifier.
pub(crate) fn decoding_key(pem: &[u8]) -> Result<(DecodingKey, SigningAlgorithm), KeyError> {
    provider()?;
    let label = pem_label(pem)?;
    let (key, algorithm) = match label.as_str() {
        "RSA PUBLIC KEY" => (rsa_public(pem)?, SigningAlgorithm::Rs256),
        "PUBLIC KEY" => {
            if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                // An uncompressed (65 bytes) or compressed (33 bytes) P-256 point.
                match key.try_get_as_bytes().map(<[u8]>::len) {
                    Ok(65 | 33) => (key, SigningAlgorithm::Es256),
                    _ => {
                        return Err(KeyError::Unsupported("EC key on a curve other than P-256"));
                    }
                }
            } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                (key, SigningAlgorithm::EdDsa)
            } else if DecodingKey::from_rsa_pem(pem).is_ok() {
                (rsa_public(pem)?, SigningAlgorithm::Rs256)
            } else {
                return Err(KeyError::Unsupported(
                    "not an RSA, EC P-256 or Ed25519 public key",
                ));
            }
        }
        _ => {
            return Err(KeyError::WrongLabel {
                found: label.clone(),
                expected: PUBLIC_LABELS,
                hint: hint(&label),
            });
        }
    };
    // A verifier is built per token; build one now so a bad key fails at start-up. The signature
    // is junk, so the answer is "does not verify" — only an error says the key is unusable.
    verify("AAAA", b"probe", &key, algorithm.jwt())
        .map_err(|source| KeyError::Unusable { algorithm, source })?;
    Ok((key, algorithm))
}

fn rsa_public(pem: &[u8]) -> Result<DecodingKey, KeyError> {
    let key = DecodingKey::from_rsa_pem(pem).map_err(|source| KeyError::Unusable {
        algorithm: SigningAlgorithm::Rs256,
        source,
    })?;
    let bits = key
        .try_get_as_bytes()
        .ok()
        .and_then(rsa_modulus_bits)
        .ok_or(KeyError::Unsupported(
            "RSA public key whose modulus cannot be read",
        ))?;
    if bits < MIN_RSA_BITS {
        return Err(KeyError::Unsupported("RSA key shorter than 2048 bits"));
    }
    Ok(key)
}

/// Reads a private key (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`) and the algorithm it
/// signs with, and proves it can sign.
pub(crate) fn encoding_key(pem: &[u8]) -> Result<(EncodingKey, SigningAlgorithm), KeyError> {
    provider()?;
    let label = pem_label(pem)?;
    let (key, algorithm) = match label.as_str() {
        "RSA PRIVATE KEY" => (rsa_private(pem)?, SigningAlgorithm::Rs256),
        "PRIVATE KEY" => {
            if let Ok(key) = EncodingKey::from_ec_pem(pem) {
                (key, SigningAlgorithm::Es256)
            } else if let Ok(key) = EncodingKey::from_ed_pem(pem) {
                (key, SigningAlgorithm::EdDsa)
            } else if EncodingKey::from_rsa_pem(pem).is_ok() {
                (rsa_private(pem)?, SigningAlgorithm::Rs256)
            } else {
                return Err(KeyError::Unsupported(
                    "not an RSA, EC P-256 or Ed25519 private key",
                ));
            }
        }
        _ => {
            return Err(KeyError::WrongLabel {
                found: label.clone(),
                expected: PRIVATE_LABELS,
                hint: hint(&label),
            });
        }
    };
    // Signing parses the key for its algorithm: a P-384 key fails here as ES256, not later.
    if let Err(source) = sign(b"probe", &key, algorithm.jwt()) {
        if algorithm == SigningAlgorithm::Es256 {
            return Err(KeyError::Unsupported("EC key on a curve other than P-256"));
        }
        return Err(KeyError::Unusable { algorithm, source });
    }
    Ok((key, algorithm))
}

fn rsa_private(pem: &[u8]) -> Result<EncodingKey, KeyError> {
    EncodingKey::from_rsa_pem(pem).map_err(|source| KeyError::Unusable {
        algorithm: SigningAlgorithm::Rs256,
        source,
    })
}

fn hint(label: &str) -> &'static str {
    match label {
        "EC PRIVATE KEY" => {
            "; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8`"
        }
        "ENCRYPTED PRIVATE KEY" => "; the key must not be encrypted",
        "CERTIFICATE" => "; give the key itself, not a certificate",
        "PRIVATE KEY" | "RSA PRIVATE KEY" => {
            "; this is a private key: give its public half (`openssl pkey -pubout`)"
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => "; this is a public key: signing needs the private key",
        _ => "",
    }
}

/// The bit length of the modulus of a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (tag, sequence, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, modulus, _) = der_element(sequence)?;
    if tag != 0x02 {
        return None;
    }
    let start = modulus.iter().position(|&b| b != 0)?;
    let significant = modulus.get(start..)?;
    let top = significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
}

/// Splits one DER element off `input`: (tag, contents, rest). Definite lengths only, as DER is.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    let (len, input) = if first < 0x80 {
        (usize::from(first), input)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, input) = input.split_at_checked(count)?;
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, input)
    };
    let (contents, rest) = input.split_at_checked(len)?;
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rsa_modulus_length() {
        // SEQUENCE { INTEGER 0x00 0x80 ..(2048 bits).., INTEGER 65537 }
        let mut modulus = vec![0x00, 0x80];
        modulus.extend(std::iter::repeat_n(0x01, 255));
        let mut seq = vec![0x02, 0x82, 0x01, 0x01];
        seq.extend(&modulus);
        seq.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut der = vec![0x30, 0x82];
        der.extend(u16::try_from(seq.len()).unwrap_or(0).to_be_bytes());
        der.extend(&seq);
        assert_eq!(rsa_modulus_bits(&der), Some(2048));
        // Truncated or wrongly tagged input is not a modulus.
        assert_eq!(rsa_modulus_bits(&der[..40]), None);
        assert_eq!(rsa_modulus_bits(&[0x31, 0x00]), None);
        assert_eq!(rsa_modulus_bits(&[]), None);
        assert_eq!(rsa_modulus_bits(&[0x30, 0x85, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn pem_labels() {
        assert!(matches!(pem_label(b"hello"), Err(KeyError::NotPem)));
        assert!(matches!(pem_label(&[0xff, 0xfe]), Err(KeyError::NotPem)));
        assert_eq!(
            pem_label(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").ok(),
            Some("PUBLIC KEY".to_owned())
        );
        assert!(matches!(
            pem_label(b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\n"),
            Err(KeyError::SeveralBlocks { count: 2 })
        ));
    }
}
