#!/usr/bin/env bash
# Build the throwaway PKI for the test TSAs in directory $1 (created if missing). OpenSSL 3 only,
# no network. Every variant is a sub-folder with its own key, certificate, `openssl ts` config and
# serial file; tests/support/tsa_server.py serves each one at http://127.0.0.1:PORT/<variant>/.
#
#   good             root CA -> TSA (RSA 2048, EKU critical timeStamping); token carries the
#                    signer certificate only (one element: the SET is trivially in DER order).
#   quirky           root CA -> intermediate CA -> TSA, config `certs = chain.pem`: OpenSSL then
#                    writes SignedData.certificates as [signer, intermediate, root], which is NOT in
#                    DER SET OF order (the signer certificate is the longest, so it sorts last).
#                    Strict DER parsers (rfc3161-client) reject it; this exercises the fallback.
#   untrusted        a different root CA -> TSA; valid token, but not from a CA the tests trust.
#   expired          root CA -> TSA whose certificate expired in 2021 (made with `openssl ca`,
#                    which can set past dates); `openssl ts -reply` still signs with it.
#   reject           the good TSA's key and certificate, but only sha512 accepted: every sha256
#                    query gets a real `rejection` TimeStampResp (status 2, badAlg).
#   no-eku           root CA -> certificate WITHOUT extendedKeyUsage. `openssl ts -reply` refuses
#   noncritical-eku  such signers (and a non-critical EKU), so the server gets the TSTInfo from
#                    tstinfo.cnf and signs it with `openssl cms -sign` using this certificate.
set -euo pipefail
D="${1:?usage: make_test_tsa.sh DIR}"
mkdir -p "$D"
cd "$D"
D=$(pwd)

cat > ext.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused

[ v3_root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ v3_intermediate ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa_noncritical_eku ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa_no_eku ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# `openssl ca` (used only for the expired certificate: it is the one that takes explicit dates)
[ ca ]
default_ca = ca_expired
[ ca_expired ]
database      = ./ca-db/index.txt
new_certs_dir = ./ca-db
serial        = ./ca-db/serial
default_md    = sha256
policy        = policy_any
copy_extensions = none
[ policy_any ]
commonName = supplied
CNF

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# self-signed root: DIR/ca.key, DIR/ca.crt
make_root() {
  mkdir -p "$1"; ec_key "$1/ca.key"
  openssl req -x509 -new -key "$1/ca.key" -out "$1/ca.crt" -days 3650 -subj "/CN=$2" \
    -config ext.cnf -extensions v3_root
}
# issue KEYFILE's certificate: issue CSR_SUBJECT KEY OUT ISSUER_DIR EXTENSIONS
issue() {
  openssl req -new -key "$2" -out "$3.csr" -subj "/CN=$1" -config ext.cnf
  openssl x509 -req -in "$3.csr" -CA "$4/ca.crt" -CAkey "$4/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -out "$3" -days 1825 -extfile ext.cnf -extensions "$5" 2>/dev/null
  rm -f "$3.csr"
}
# openssl ts config for variant folder $1; extra lines from stdin replace nothing, they append
ts_config() {
  local dir=$1 digests=$2 certs=$3
  echo 01 > "$dir/tsaserial"
  {
    echo "[ tsa ]"
    echo "default_tsa = tsa_config"
    echo "[ tsa_config ]"
    echo "serial            = $dir/tsaserial"
    echo "crypto_device     = builtin"
    echo "signer_cert       = $dir/tsa.crt"
    echo "signer_key        = $dir/tsa.key"
    [ -n "$certs" ] && echo "certs             = $certs"
    echo "signer_digest     = sha256"
    echo "default_policy    = 1.2.3.4.1"
    echo "other_policies    = 1.2.3.4.5.6"
    echo "digests           = $digests"
    echo "accuracy          = secs:1"
    echo "ordering          = yes"
    echo "tsa_name          = yes"
    echo "ess_cert_id_chain = no"
    echo "ess_cert_id_alg   = sha256"
  } > "$dir/tsa.cnf"
}

make_root root "Evidence Test Root CA"
make_root other-root "Evidence Untrusted Root CA"

# good
mkdir -p good; rsa_key good/tsa.key
issue "Evidence Test TSA" good/tsa.key good/tsa.crt root v3_tsa
ts_config "$D/good" "sha256, sha384, sha512" ""

# quirky: intermediate CA, chain in the token
mkdir -p quirky/int; ec_key quirky/int/ca.key
issue "Evidence Test Intermediate CA" quirky/int/ca.key quirky/int/ca.crt root v3_intermediate
rsa_key quirky/tsa.key
issue "Evidence Test TSA (chain in token)" quirky/tsa.key quirky/tsa.crt quirky/int v3_tsa
cat quirky/int/ca.crt root/ca.crt > quirky/chain.pem
ts_config "$D/quirky" "sha256, sha384, sha512" "$D/quirky/chain.pem"

# untrusted
mkdir -p untrusted; ec_key untrusted/tsa.key
issue "Evidence Untrusted TSA" untrusted/tsa.key untrusted/tsa.crt other-root v3_tsa
ts_config "$D/untrusted" "sha256, sha384, sha512" ""

# expired (validity 2020-01-01 .. 2021-01-01)
mkdir -p expired ca-db; : > ca-db/index.txt; openssl rand -hex 8 > ca-db/serial
ec_key expired/tsa.key
openssl req -new -key expired/tsa.key -out expired/tsa.csr -subj "/CN=Evidence Expired TSA" -config ext.cnf
openssl ca -batch -config ext.cnf -name ca_expired -cert root/ca.crt -keyfile root/ca.key \
  -in expired/tsa.csr -out expired/tsa.crt -notext -startdate 20200101000000Z \
  -enddate 20210101000000Z -extfile ext.cnf -extensions v3_tsa 2>/dev/null
rm -f expired/tsa.csr
ts_config "$D/expired" "sha256, sha384, sha512" ""

# reject: same signer as good, sha256 not accepted
mkdir -p reject; cp good/tsa.key good/tsa.crt reject/
ts_config "$D/reject" "sha512" ""

# no-eku / noncritical-eku: signed with `openssl cms`, TSTInfo from tstinfo.cnf (good's key;
# only its TSTInfo is used, its signature is thrown away)
for v in no-eku:v3_tsa_no_eku noncritical-eku:v3_tsa_noncritical_eku; do
  name=${v%%:*}; ext=${v#*:}
  mkdir -p "$name"; ec_key "$name/tsa.key"
  issue "Evidence Bad TSA ($name)" "$name/tsa.key" "$name/tsa.crt" root "$ext"
  ts_config "$D/$name" "sha256, sha384, sha512" ""
  sed -i -e "s#^signer_cert .*#signer_cert       = $D/good/tsa.crt#" \
         -e "s#^signer_key .*#signer_key        = $D/good/tsa.key#" \
         -e "s#^tsa_name .*#tsa_name          = no#" "$name/tsa.cnf"
  mv "$name/tsa.cnf" "$name/tstinfo.cnf"
done

# self-test: the good and quirky TSAs answer and their tokens verify with openssl
printf 'self-test message\n' > selftest.bin
openssl ts -query -data selftest.bin -sha256 -cert -out selftest.tsq 2>/dev/null
for v in good quirky; do
  openssl ts -reply -config "$v/tsa.cnf" -queryfile selftest.tsq -out "$v/selftest.tsr" 2>/dev/null
  openssl ts -verify -queryfile selftest.tsq -in "$v/selftest.tsr" -CAfile root/ca.crt \
    -untrusted "$v/tsa.crt" >/dev/null 2>&1 || { echo "self-test failed for $v" >&2; exit 1; }
done
echo "test TSA PKI ready in $D"
