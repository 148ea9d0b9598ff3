"""EU trusted lists made in tests: the ETSI TS 119 612 v2 layout (its namespace and
element names), with QTST services, status timelines and digital identities, so that the
report's eIDAS rows can be checked against a real TSA's certificates
(evidence/ledger/bundle/trusted_list.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"
QTST = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"


def cert_b64(pem: bytes) -> str:
    """A PEM certificate as a list's X509Certificate (base64 DER)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return base64.b64encode(der).decode()


def _period(tag: str, type_: str, status: str, start: str, identity: str = "") -> str:
    return (f"<{tag}><ServiceTypeIdentifier>{type_}</ServiceTypeIdentifier>"
            "<ServiceName><Name xml:lang=\"de\">Zeitstempeldienst</Name>"
            "<Name xml:lang=\"en\">Test Qualified Time Stamps</Name></ServiceName>"
            f"{identity}<ServiceStatus>{status}</ServiceStatus>"
            f"<StatusStartingTime>{start}</StatusStartingTime></{tag}>")


def service(*, cert_b64: str | None = None, ski: str | None = None,
            subject: str | None = None, status: str = GRANTED,
            start: str = "2016-07-01T00:00:00Z", type_: str = QTST,
            history: tuple[tuple[str, str, str], ...] = ()) -> str:
    """A TSPService: its current ServiceInformation and (type, status, start) instances."""
    ids = "".join(f"<DigitalId><{k}>{v}</{k}></DigitalId>" for k, v in (
        ("X509Certificate", cert_b64), ("X509SKI", ski), ("X509SubjectName", subject)) if v)
    identity = f"<ServiceDigitalIdentity>{ids}</ServiceDigitalIdentity>"
    hist = "".join(_period("ServiceHistoryInstance", t, s, b) for t, s, b in history)
    return (f"<TSPService>{_period('ServiceInformation', type_, status, start, identity)}"
            f"{'<ServiceHistory>' + hist + '</ServiceHistory>' if hist else ''}</TSPService>")


def tsl(*services: str, seq: int = 42, issued: str = "2026-01-15T00:00:00Z") -> bytes:
    """A national trusted list (ETSI TS 119 612 v2 layout), its signature element empty."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<TrustServiceStatusList xmlns="http://uri.etsi.org/02231/v2#"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" TSLTag="http://uri.etsi.org/19612/TSLTag"
    Id="TrustServiceStatusList-1">
  <SchemeInformation>
    <TSLVersionIdentifier>5</TSLVersionIdentifier>
    <TSLSequenceNumber>{seq}</TSLSequenceNumber>
    <TSLType>http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric</TSLType>
    <SchemeOperatorName><Name xml:lang="en">Test Supervisory Body</Name></SchemeOperatorName>
    <SchemeTerritory>DE</SchemeTerritory>
    <ListIssueDateTime>{issued}</ListIssueDateTime>
    <NextUpdate><dateTime>2026-07-15T00:00:00Z</dateTime></NextUpdate>
  </SchemeInformation>
  <TrustServiceProviderList>
    <TrustServiceProvider>
      <TSPInformation><TSPName><Name xml:lang="en">Test QTSP GmbH</Name></TSPName>
      </TSPInformation>
      <TSPServices>{''.join(services)}</TSPServices>
    </TrustServiceProvider>
  </TrustServiceProviderList>
  <ds:Signature Id="sig-1"/>
</TrustServiceStatusList>
""".encode()


def other_cert() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone else's TSA")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
