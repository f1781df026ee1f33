//! The certificates and keys one control plane needs, made fresh for each start: nothing is read
//! from the repository, so no test can come to depend on a checked-in key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};

use crate::Error;

/// Paths of the files written by [`write`].
#[derive(Clone, Debug)]
pub struct Pki {
    /// The CA that signed the serving and admin certificates (PEM).
    pub ca_cert: PathBuf,
    /// The API server's serving certificate, for 127.0.0.1 and localhost.
    pub serving_cert: PathBuf,
    /// Its key.
    pub serving_key: PathBuf,
    /// A client certificate in `system:masters`: cluster-admin.
    pub admin_cert: PathBuf,
    /// Its key.
    pub admin_key: PathBuf,
    /// The service-account token signing key (ECDSA P-256, so tokens are ES256).
    pub sa_key: PathBuf,
    /// Its public half, which the API server verifies tokens with.
    pub sa_pub: PathBuf,
}

fn cert_error(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| Error::Certificates(format!("{what}: {e}"))
}

/// Generates a CA, a serving certificate, an admin client certificate and a token signing key
/// into `dir`.
pub fn write(dir: &Path) -> Result<Pki, Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error("CA"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "envtest CA");
    let ca = CertifiedIssuer::self_signed(
        ca_params,
        KeyPair::generate().map_err(cert_error("CA key"))?,
    )
    .map_err(cert_error("CA"))?;

    let serving_key = KeyPair::generate().map_err(cert_error("serving key"))?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ])
    .map_err(cert_error("serving certificate"))?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving = serving
        .signed_by(&serving_key, &ca)
        .map_err(cert_error("serving certificate"))?;

    let admin_key = KeyPair::generate().map_err(cert_error("admin key"))?;
    let mut admin = CertificateParams::new(Vec::<String>::new()).map_err(cert_error("admin"))?;
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin
        .distinguished_name
        .push(DnType::CommonName, "envtest-admin");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin = admin
        .signed_by(&admin_key, &ca)
        .map_err(cert_error("admin certificate"))?;

    let sa = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(cert_error("service-account key"))?;

    let pki = Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
    };
    let files = [
        (&pki.ca_cert, ca.pem()),
        (&pki.serving_cert, serving.pem()),
        (&pki.serving_key, serving_key.serialize_pem()),
        (&pki.admin_cert, admin.pem()),
        (&pki.admin_key, admin_key.serialize_pem()),
        (&pki.sa_key, sa.serialize_pem()),
        (&pki.sa_pub, sa.public_key_pem()),
    ];
    for (path, pem) in files {
        std::fs::write(path, pem).map_err(|e| Error::io(path, e))?;
    }
    Ok(pki)
}
