"""Trust files (docs/verdict.md section 3) that every trust parser must read alike: a good
file using each kind of line, and refusals with the line and the message they must name.
The package's parser (tests/verify/test_trust_policy.py) and the stand-alone script's
(tests/auditor/test_standalone_trust.py) are both held to them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import MAX_SIZE

LOG = generate_signer("evidence.example/log").verifier()
LOG2 = generate_signer("other.example/log").verifier()
W = [generate_signer(f"w{i}.example/w", ALG_COSIGNATURE_V1).verifier() for i in range(4)]
NODE = generate_signer("capture.example/shanghai-1").verifier()


def _root(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


ROOT = _root("National TSA Root")
ROOT2 = _root("Other TSA Root")

GOOD = f"""# evidence trust policy for evidence.example/log
log {LOG.to_string()} https://evidence.example/
log {LOG2.to_string()}
witness court-w1 {W[0].to_string()} https://witness.court.example/
witness notary-w2 {W[1].to_string()}
witness w3 {W[2].to_string()}
group two 2 court-w1 notary-w2 w3
group witnesses any two w3
quorum witnesses
#@ tsa national-tsa {base64.b64encode(ROOT).decode()}
#@\ttsa-store   mozilla
   #@ capture-node shanghai-1 {NODE.to_string()}
#@not-an-extension: a comment
""".encode()


BAD = [
    (b"", None, "names no log key"),
    (b"# only a comment\nquorum none\n", None, "names no log key"),
    (f"log {LOG.to_string()}\n".encode(), None, "no quorum line"),
    (f"log {LOG.to_string()}\r\nquorum none\r\n".encode(), 1, "carriage return"),
    (f"log {LOG.to_string()}\rquorum none\n".encode(), 1, "carriage return"),
    (f"log {LOG.to_string()}\nquorum none\x00\n".encode(), 2, "control octet 0x00"),
    (f"log {LOG.to_string()}\nquorum none\n\xff\n".encode("latin-1"), 3, "not valid UTF-8"),
    (f"log {LOG.to_string()}\nquorum none\n#@ tsa-store nss\n".encode(), 3, "tsa-store"),
    (f"log {LOG.to_string()}\nquorum none\n#@ policy strict\n".encode(), 3,
     "unknown extension 'policy'"),
    (f"log {LOG.to_string()}\nlog {LOG.to_string()}\nquorum none\n".encode(), 2,
     "duplicate key"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\nwitness b {W[0].to_string()}\n"
     "quorum none\n".encode(), 3, "duplicate key"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\nwitness a {W[1].to_string()}\n"
     "quorum none\n".encode(), 3, "duplicate name"),
    (f"log {LOG.to_string()}\ngroup g any a\nwitness a {W[0].to_string()}\nquorum g\n"
     .encode(), 2, "not a witness or group defined above"),
    (f"log {LOG.to_string()}\nquorum a\nwitness a {W[0].to_string()}\n".encode(), 2,
     "not a witness or group defined above"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\ngroup g any a a\nquorum g\n"
     .encode(), 3, "names 'a' twice"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\ngroup g 2 a\nquorum g\n"
     .encode(), 3, "from 1 to 1"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\ngroup g 0 a\nquorum g\n"
     .encode(), 3, "threshold '0'"),
    (f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\ngroup g 01 a\nquorum g\n"
     .encode(), 3, "threshold '01'"),
    (f"log {LOG.to_string()}\nwitness none {W[0].to_string()}\nquorum none\n".encode(), 2,
     "reserved"),
    (f"log {LOG.to_string()}\nquorum none\nquorum none\n".encode(), 3, "second quorum"),
    (f"log {LOG.to_string()}\nquorum\n".encode(), 2, "expected: quorum"),
    (f"log {W[0].to_string()}\nquorum none\n".encode(), 1, "not an Ed25519"),
    (f"log {LOG.to_string()}\nwitness a {LOG2.to_string()}\nquorum none\n".encode(), 2,
     "not a cosignature/v1"),
    (b"log not-a-key\nquorum none\n", 1, "log key"),
    (f"log {LOG.to_string()} url extra\nquorum none\n".encode(), 1, "expected: log"),
    (f"logs {LOG.to_string()}\nquorum none\n".encode(), 1, "unknown line 'logs'"),
    (f"log {LOG.to_string()}\nquorum none\n#@ tsa x !!!\n".encode(), 3, "not base64"),
    (f"log {LOG.to_string()}\nquorum none\n#@ tsa x QUJD\n".encode(), 3, "not a DER X.509"),
    (f"log {LOG.to_string()}\nquorum none\n#@ tsa x {base64.b64encode(ROOT).decode()}\n"
     f"#@ tsa y {base64.b64encode(ROOT).decode()}\n".encode(), 4, "same certificate twice"),
    (f"log {LOG.to_string()}\nquorum none\n#@ tsa x {base64.b64encode(ROOT).decode()}\n"
     f"#@ tsa x {base64.b64encode(ROOT2).decode()}\n".encode(), 4, "duplicate TSA name"),
    (f"log {LOG.to_string()}\nquorum none\n#@ capture-node n\n".encode(), 3,
     "expected: #@ capture-node"),
    (b"log " + b"a" * MAX_SIZE, None, "the limit is"),
]
