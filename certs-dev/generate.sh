#!/usr/bin/env bash
# Regenerates the DEVELOPMENT-ONLY certificates and keys in this directory (see README.md).
# Nothing in manifests/ may refer to these files: their private keys are public, in git.
#
# Usage: certs-dev/generate.sh            (needs the openssl CLI, 1.1.1 or 3.x)
set -euo pipefail

cd "$(dirname "$0")"

# Ten years, so a checkout keeps working; acceptable only because these are development files.
DAYS=3650

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

p256_key() {
    # PKCS#8 ("PRIVATE KEY"), named curve: what rustls and jsonwebtoken both read.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$1"
}

# 1. Development CA: signs the serving certificate; a client trusts ca.crt to reach `serve --dev`.
cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
O = update-status-controller development only
CN = update-status-controller dev CA
[ca_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
p256_key ca.key
openssl req -new -x509 -sha256 -days "$DAYS" -key ca.key -config "$tmp/ca.cnf" -out ca.crt

# 2. Serving certificate for 127.0.0.1, ::1 and localhost, signed by the CA.
cat >"$tmp/tls.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[tls_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
p256_key tls.key
openssl req -new -sha256 -key tls.key -config "$tmp/tls.cnf" -out "$tmp/tls.csr"
openssl x509 -req -sha256 -days "$DAYS" -in "$tmp/tls.csr" -CA ca.crt -CAkey ca.key \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/tls.cnf" -extensions tls_ext \
    -out tls.crt

# 3. Token-signing key pair (ES256): `token` signs producer tokens with the private key,
#    `serve --dev` verifies them with the public key.
p256_key token-signing.key
openssl pkey -in token-signing.key -pubout -out token-signing.pub

chmod 600 ca.key tls.key token-signing.key
chmod 644 ca.crt tls.crt token-signing.pub

openssl verify -CAfile ca.crt tls.crt
echo "certs-dev: regenerated; CA and serving certificate valid until $(openssl x509 -noout -enddate -in tls.crt | cut -d= -f2)"
