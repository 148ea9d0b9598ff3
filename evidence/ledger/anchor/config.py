"""Anchoring configuration: ``<data-dir>/anchors.json``.

::

    {
      "tsas": [
        {"name": "national-tsa", "url": "https://tsa.example/tsr",
         "ca": ["anchor-ca/national-tsa.pem"], "policy": null, "timeout": 10.0}
      ],
      "witnesses": [
        {"name": "court-w1", "url": "https://witness.court.example",
         "key": "witness.court.example/w1+1a2b3c4d+BK...", "timeout": 10.0, "qpd": 1440}
      ],
      "witness_quorum": 1,
      "interval": 60.0,
      "retry_older": false,
      "retry": {"base": 30.0, "max": 3600.0, "jitter": 0.5, "max_attempts": 0}
    }

- ``ca``: PEM files of the root CA(s) pinned for that TSA, relative to the data directory
  unless absolute. ``evidence anchor tsa add --ca FILE`` copies the given file(s) into
  ``<data-dir>/anchor-ca/<name>.pem``, so that the pin cannot change behind the operator's back.
- ``policy``: the TSA policy OID the tokens must carry (null: any), checkpoints' and evidence
  records' alike.
- ``preset``: a well-known public TSA added with ``evidence anchor tsa add --preset NAME``
  (:data:`TSA_PRESETS`): its tokens are checked against the roots the preset names, taken
  from Mozilla's root store as shipped by ``certifi`` (the trust file then says
  ``#@ tsa-store mozilla``); ``ca`` may then be empty.
- ``key``: the witness's pinned verifier key (c2sp tlog-cosignature/v1, type 0x04).
- ``qpd`` (optional, witnesses): at most this many add-checkpoint requests to the witness
  in any 24 hours (the log's ``qpd`` on the witness-network.org list the witness follows):
  requests at least ``86400 / qpd`` seconds apart, always for the newest checkpoint
  (:mod:`evidence.ledger.anchor.budget`). Absent: no budget (a witness of one's own).
- ``legal_name`` (optional, TSAs and witnesses): the operator's statement of the source's
  legal name, printed in the court report beside what the token or key says; 1-300 characters.
- ``witness_quorum``: how many configured witnesses must cosign a checkpoint for it to count
  as witnessed (``evidence status`` reports the newest checkpoint that has it).
- ``interval``: seconds between rounds of ``evidence anchor --loop``.
- ``retry_older``: keep retrying older checkpoints that a TSA has not anchored yet. Off
  (default): when a newer checkpoint appears, unfinished rows of older ones become
  ``superseded`` (the newer checkpoint covers every entry of the older one). Witnesses only
  ever cosign the newest checkpoint (they follow the log forwards).
- ``retry``: after the n-th failed attempt of one (checkpoint, source) the next one is due
  after ``min(max, base * 2**(n-1))`` seconds, shortened by a random fraction up to
  ``jitter`` (so that many logs do not hit a TSA in step). ``max_attempts`` 0: no limit.

Source names are unique across TSAs and witnesses: ``[A-Za-z0-9._-]``, 1 to 64 characters.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from evidence.ledger.errors import LedgerError
from evidence.verify.errors import MalformedInput
from evidence.verify.merkle import MAX_TREE_SIZE
from evidence.verify.note import COSIGNING_ALGS, Verifier, parse_verifier_key
from evidence.verify.trust import (
    Group,
    LogKey,
    TrustFileError,
    TrustPolicy,
    TsaRoot,
    Witness,
    parse_trust,
)

__all__ = [
    "ANCHORS_FILE",
    "CA_DIR",
    "TSA_PRESETS",
    "AnchorConfig",
    "AnchorConfigError",
    "RetryPolicy",
    "TsaPreset",
    "TsaSource",
    "WitnessSource",
    "add_tsa",
    "add_tsa_preset",
    "add_witness",
    "load_anchor_config",
    "remove_source",
    "save_anchor_config",
    "trust_policy",
]

ANCHORS_FILE = "anchors.json"
CA_DIR = "anchor-ca"
DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 60.0
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class AnchorConfigError(LedgerError):
    """``anchors.json`` (or a change to it) is not valid; the message says what to fix."""


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 30.0
    max: float = 3600.0
    jitter: float = 0.5
    max_attempts: int = 0  # 0: retry for ever

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1-based)."""
        raw = min(self.max, self.base * 2 ** max(0, min(attempts - 1, 62)))
        r = (rng or random).random()
        return raw * (1.0 - self.jitter * r)

    def gives_up_after(self, attempts: int) -> bool:
        return self.max_attempts > 0 and attempts >= self.max_attempts


@dataclass(frozen=True)
class TsaPreset:
    """A well-known public TSA: its URL and the Mozilla-store roots (by subject common
    name) its chain is known to end at. "Known" is as far as this project knows at the
    time of writing: the operator confirms, with a first ``evidence anchor``, that the
    TSA's tokens verify (a token that does not is refused, never stored)."""

    url: str
    roots: tuple[str, ...]
    note: str
    mozilla: bool = True
    """False: the root is not in Mozilla's store; the operator must pin it with --ca."""


TSA_PRESETS: dict[str, TsaPreset] = {
    "digicert": TsaPreset("http://timestamp.digicert.com", ("DigiCert Trusted Root G4",),
                          "DigiCert Timestamp signer, under DigiCert Trusted G4 RSA4096 SHA256 "
                          "TimeStamping CA"),
    "sectigo": TsaPreset("http://timestamp.sectigo.com", (
        "USERTrust RSA Certification Authority", "USERTrust ECC Certification Authority"),
        "Sectigo Public Time Stamping Root R46 (cross-signed by USERTrust RSA); if the tokens "
        "do not carry the cross-certificate, pin Sectigo's time-stamping root with --ca"),
    "globalsign": TsaPreset("http://timestamp.globalsign.com/tsa/r6advanced1",
                            ("GlobalSign",), "GlobalSign Root CA - R6 (AATL time-stamping)"),
    "sslcom": TsaPreset("http://ts.ssl.com", ("SSL.com Root Certification Authority RSA",
                                              "SSL.com Root Certification Authority ECC"),
                        "SSL.com Timestamping Issuing CA under the SSL.com root"),
    "certum": TsaPreset("http://time.certum.pl", ("Certum Trusted Network CA",
                                                  "Certum Trusted Root CA"),
                        "Certum (Asseco Data Systems) time-stamping"),
    "freetsa": TsaPreset("https://freetsa.org/tsr", ("FreeTSA.org root CA",),
                         "FreeTSA's own root, not in Mozilla's store: download cacert.pem from "
                         "freetsa.org, check its fingerprint out of band, give it with --ca",
                         mozilla=False),
}


def _mozilla_pems() -> list[bytes]:
    try:
        import certifi
    except ImportError:
        raise AnchorConfigError("a TSA preset uses Mozilla's root store, as shipped by the "
                                "certifi package: install certifi") from None
    try:
        data = Path(certifi.where()).read_bytes()
    except OSError as e:
        raise AnchorConfigError(f"cannot read certifi's root store: {e}") from None
    import warnings

    with warnings.catch_warnings():  # a few old roots have non-positive serial numbers
        warnings.simplefilter("ignore")
        certs = x509.load_pem_x509_certificates(data)
    return [c.public_bytes(_pem()) for c in certs]


def _common_name(pem: bytes) -> str:
    import warnings

    from cryptography.x509.oid import NameOID

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cert = x509.load_pem_x509_certificate(pem)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else ""


@dataclass(frozen=True)
class TsaSource:
    name: str
    url: str
    ca: tuple[str, ...]
    policy: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    preset: str | None = None
    legal_name: str | None = None
    """The TSA's legal name as the operator states it (the court report shows it beside
    the token's certificate subject); optional, never checked against anything."""

    kind = "tsa"

    def ca_paths(self, data_dir: Path) -> list[Path]:
        return [p if (p := Path(c).expanduser()).is_absolute() else data_dir / p for c in self.ca]

    def ca_pems(self, data_dir: Path) -> list[bytes]:
        """The pinned CA PEM bytes (raises :class:`AnchorConfigError` if one is unreadable):
        the files given with --ca, and for a preset the Mozilla-store roots it names (only
        those: a token from this TSA must end at one of them)."""
        out = []
        for p in self.ca_paths(data_dir):
            try:
                out.append(p.read_bytes())
            except OSError as e:
                raise AnchorConfigError(f"TSA {self.name}: cannot read CA file {p}: {e}") from None
        out += self.store_pems()
        if not out:
            raise AnchorConfigError(f"TSA {self.name}: none of the roots of preset "
                                    f"{self.preset} is in this machine's certifi store")
        return out

    def store_pems(self) -> list[bytes]:
        """The Mozilla-store roots of this TSA's preset (none for a TSA pinned by file)."""
        preset = TSA_PRESETS.get(self.preset or "")
        if preset is None or not preset.mozilla:
            return []
        return [p for p in _mozilla_pems() if _common_name(p) in preset.roots]


@dataclass(frozen=True)
class WitnessSource:
    name: str
    url: str
    key: str
    timeout: float = DEFAULT_TIMEOUT
    legal_name: str | None = None
    """The witness's legal name (operator's statement, shown in the court report)."""
    qpd: int | None = None
    """Add-checkpoint requests a day this log may send the witness (None: no budget)."""

    kind = "witness"


@dataclass(frozen=True)
class AnchorConfig:
    data_dir: Path
    tsas: tuple[TsaSource, ...] = ()
    witnesses: tuple[WitnessSource, ...] = ()
    witness_quorum: int = 0
    interval: float = DEFAULT_INTERVAL
    retry_older: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def path(self) -> Path:
        return self.data_dir / ANCHORS_FILE

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in (*self.tsas, *self.witnesses)]

    def to_json(self) -> dict[str, Any]:
        return {
            "tsas": [{"name": t.name, "url": t.url, "ca": list(t.ca), "policy": t.policy,
                      "timeout": t.timeout, **({"preset": t.preset} if t.preset else {}),
                      **({"legal_name": t.legal_name} if t.legal_name else {})}
                     for t in self.tsas],
            "witnesses": [{"name": w.name, "url": w.url, "key": w.key, "timeout": w.timeout,
                           **({"legal_name": w.legal_name} if w.legal_name else {}),
                           **({"qpd": w.qpd} if w.qpd is not None else {})}
                          for w in self.witnesses],
            "witness_quorum": self.witness_quorum,
            "interval": self.interval,
            "retry_older": self.retry_older,
            "retry": {"base": self.retry.base, "max": self.retry.max,
                      "jitter": self.retry.jitter, "max_attempts": self.retry.max_attempts},
        }

    def validate(self) -> AnchorConfig:
        names = self.source_names
        for n in names:
            if not isinstance(n, str) or not _NAME.match(n):
                raise AnchorConfigError(f"source name {n!r}: use 1-64 of A-Z a-z 0-9 . _ -")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise AnchorConfigError(f"source names must be unique (TSAs and witnesses): {dup}")
        for t in self.tsas:
            _check_url(t.name, t.url)
            _check_timeout(t.name, t.timeout)
            if t.preset is not None and t.preset not in TSA_PRESETS:
                raise AnchorConfigError(f"TSA {t.name}: unknown preset {t.preset!r} (known: "
                                        f"{', '.join(TSA_PRESETS)})")
            if not t.ca and not (t.preset and TSA_PRESETS[t.preset].mozilla):
                raise AnchorConfigError(f"TSA {t.name}: no trusted CA (ca) given")
            if t.policy is not None and not _OID.match(t.policy):
                raise AnchorConfigError(f"TSA {t.name}: policy {t.policy!r} is not a dotted OID")
        for src in (*self.tsas, *self.witnesses):
            if src.legal_name is not None and not (isinstance(src.legal_name, str)
                                                   and 0 < len(src.legal_name) <= 300):
                raise AnchorConfigError(f"{src.name}: legal_name must be text of 1 to 300 "
                                        "characters")
        for w in self.witnesses:
            _check_url(w.name, w.url)
            _check_timeout(w.name, w.timeout)
            _witness_key(w.name, w.key)
            if w.qpd is not None and (isinstance(w.qpd, bool) or not isinstance(w.qpd, int)
                                      or not 1 <= w.qpd <= 86_400_000):
                raise AnchorConfigError(f"witness {w.name}: qpd must be a whole number of "
                                        f"requests a day, 1 to 86400000, not {w.qpd!r}")
        if not isinstance(self.witness_quorum, int) or not (
                0 <= self.witness_quorum <= len(self.witnesses)):
            raise AnchorConfigError(f"witness_quorum {self.witness_quorum!r} must be between 0 "
                                    f"and the number of witnesses ({len(self.witnesses)})")
        if not _number(self.interval) or self.interval <= 0:
            raise AnchorConfigError("interval must be a number of seconds > 0")
        r = self.retry
        if not (_number(r.base) and _number(r.max) and _number(r.jitter)) or not (
                0 < r.base <= r.max and 0 <= r.jitter < 1):
            raise AnchorConfigError("retry: need 0 < base <= max and 0 <= jitter < 1")
        if not isinstance(r.max_attempts, int) or isinstance(r.max_attempts, bool) or \
                r.max_attempts < 0:
            raise AnchorConfigError("retry.max_attempts must be an integer >= 0 (0: no limit)")
        return self


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_url(name: str, url: str) -> None:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url, re.I):
        raise AnchorConfigError(f"{name}: URL {url!r} must be http:// or https://")


def _check_timeout(name: str, timeout: object) -> None:
    if not _number(timeout) or not 0 < float(timeout) <= 600:  # type: ignore[arg-type]
        raise AnchorConfigError(f"{name}: timeout must be between 0 and 600 seconds")


def _witness_key(name: str, key: str):  # type: ignore[no-untyped-def]
    try:
        v = parse_verifier_key(key)
    except (MalformedInput, ValueError, TypeError) as e:
        raise AnchorConfigError(f"witness {name}: bad verifier key: {e}") from None
    if v.alg not in COSIGNING_ALGS:
        raise AnchorConfigError(f"witness {name}: key {v.name} is not a cosignature/v1 (0x04) "
                                "or ML-DSA-44 (0x06) key; give the witness's verifier key")
    return v


def load_anchor_config(data_dir: str | os.PathLike[str]) -> AnchorConfig:
    """Read ``<data_dir>/anchors.json``; a missing file is an empty configuration."""
    d = Path(data_dir)
    path = d / ANCHORS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AnchorConfig(d)
    except (OSError, ValueError) as e:
        raise AnchorConfigError(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict):
        raise AnchorConfigError(f"{path}: expected a JSON object")
    try:
        tsas = tuple(TsaSource(name=t["name"], url=t["url"], ca=_str_tuple(t["ca"]),
                               policy=t.get("policy"),
                               timeout=float(t.get("timeout", DEFAULT_TIMEOUT)),
                               preset=t.get("preset"), legal_name=t.get("legal_name"))
                     for t in doc.get("tsas", []))
        witnesses = tuple(WitnessSource(name=w["name"], url=w["url"], key=w["key"],
                                        timeout=float(w.get("timeout", DEFAULT_TIMEOUT)),
                                        legal_name=w.get("legal_name"), qpd=w.get("qpd"))
                          for w in doc.get("witnesses", []))
        r = doc.get("retry", {})
        retry = RetryPolicy(base=r.get("base", 30.0), max=r.get("max", 3600.0),
                            jitter=r.get("jitter", 0.5), max_attempts=r.get("max_attempts", 0))
        cfg = AnchorConfig(d, tsas, witnesses, doc.get("witness_quorum", 0),
                           doc.get("interval", DEFAULT_INTERVAL),
                           bool(doc.get("retry_older", False)), retry)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise AnchorConfigError(f"{path}: malformed ({type(e).__name__}: {e})") from None
    return cfg.validate()


def _str_tuple(v: object) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise TypeError("ca must be a list of file names")
    return tuple(v)


def save_anchor_config(cfg: AnchorConfig) -> None:
    """Validate and write ``anchors.json`` atomically (temp file, fsync, rename)."""
    cfg.validate()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = cfg.path.with_name(ANCHORS_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(cfg.to_json(), f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, cfg.path)


def _read_ca_pem(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AnchorConfigError(f"cannot read CA file {path}: {e}") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise AnchorConfigError(f"{path} holds no PEM certificate: {e}") from None
    return b"".join(c.public_bytes(_pem()) for c in certs)


def _pem():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def add_tsa(cfg: AnchorConfig, name: str, url: str, ca_files: list[str | os.PathLike[str]], *,
            policy: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> AnchorConfig:
    """Add a TSA; copy its CA PEM(s) into ``<data-dir>/anchor-ca/<name>.pem``; save."""
    if name in cfg.source_names:
        raise AnchorConfigError(f"a source named {name!r} is already configured")
    if not ca_files:
        raise AnchorConfigError("give the TSA's trusted root CA with --ca PEM")
    pem = b"".join(_read_ca_pem(Path(f)) for f in ca_files)
    rel = Path(CA_DIR) / f"{name}.pem"
    new = replace(cfg, tsas=(*cfg.tsas, TsaSource(name, url, (str(rel),), policy, timeout)))
    new.validate()  # before writing anything
    (cfg.data_dir / CA_DIR).mkdir(parents=True, exist_ok=True)
    (cfg.data_dir / rel).write_bytes(pem)
    save_anchor_config(new)
    return new


def add_tsa_preset(cfg: AnchorConfig, preset: str, *, name: str | None = None,
                   url: str | None = None, ca_files: Sequence[str | os.PathLike[str]] = (),
                   policy: str | None = None, timeout: float = DEFAULT_TIMEOUT
                   ) -> AnchorConfig:
    """Add a well-known public TSA (:data:`TSA_PRESETS`): its URL, checked against the
    Mozilla-store roots it is known to chain to (plus any --ca given)."""
    p = TSA_PRESETS.get(preset)
    if p is None:
        raise AnchorConfigError(f"unknown TSA preset {preset!r} (known: "
                                f"{', '.join(TSA_PRESETS)})")
    name = name or preset
    if name in cfg.source_names:
        raise AnchorConfigError(f"a source named {name!r} is already configured")
    if not p.mozilla and not ca_files:
        raise AnchorConfigError(f"preset {preset}: {p.note}")
    rel: tuple[str, ...] = ()
    pem = b""
    if ca_files:
        pem = b"".join(_read_ca_pem(Path(f)) for f in ca_files)
        rel = (str(Path(CA_DIR) / f"{name}.pem"),)
    src = TsaSource(name, url or p.url, rel, policy, timeout, preset)
    if p.mozilla and not src.store_pems():
        raise AnchorConfigError(f"preset {preset}: none of its roots ({', '.join(p.roots)}) "
                                "is in this machine's certifi store; pin the root with --ca")
    new = replace(cfg, tsas=(*cfg.tsas, src))
    new.validate()
    if pem:
        (cfg.data_dir / CA_DIR).mkdir(parents=True, exist_ok=True)
        (cfg.data_dir / rel[0]).write_bytes(pem)
    save_anchor_config(new)
    return new


def trust_policy(cfg: AnchorConfig, log_key: Verifier, *, log_url: str | None = None,
                 retired: Sequence[tuple[Verifier, int, int]] = (),
                 mldsa: tuple[Verifier, int] | None = None) -> TrustPolicy:
    """The trust file a court pins for this log (docs/verdict.md section 3): the log key,
    the configured witnesses and their quorum, each TSA's pinned root(s) and, when a preset
    TSA relies on Mozilla's store, ``#@ tsa-store mozilla`` (its roots are also written
    as ``#@ tsa`` lines, so that verifiers without that store can check its tokens), and
    the capture nodes whose signed captures the service preserves (``#@ capture-node``:
    :mod:`evidence.ledger.anchor.capture_nodes`), and each log key rotated out or revoked
    with its window (``retired``: ``#@ log-key``, docs/formats.md "Log key rotation"), and
    the log's ML-DSA-44 key from its first size (``mldsa``: ``#@ log-mldsa``)."""
    witnesses = tuple(Witness(w.name, _witness_key(w.name, w.key), w.url)
                      for w in cfg.witnesses)
    groups: tuple[Group, ...] = ()
    quorum = None
    if witnesses and cfg.witness_quorum > 0:
        gname = next(n for n in ("witnesses", *(f"witnesses-{i}" for i in range(1, 99)))
                     if n not in {w.name for w in witnesses})
        groups = (Group(gname, str(cfg.witness_quorum), tuple(w.name for w in witnesses)),)
        quorum = gname
    tsas: list[TsaRoot] = []
    for t in cfg.tsas:
        ders: list[bytes] = []
        for pem in t.ca_pems(cfg.data_dir):
            try:
                certs = x509.load_pem_x509_certificates(pem)
            except ValueError as e:
                raise AnchorConfigError(f"TSA {t.name}: a pinned CA is not PEM: {e}") from None
            # only roots are pins (docs/verdict.md section 3); an intermediate in a chain
            # file is carried by the TSA's tokens, never an anchor
            ders += [c.public_bytes(_der()) for c in certs
                     if c.issuer.public_bytes() == c.subject.public_bytes()]
        for der in ders:
            if all(r.der != der for r in tsas):
                n = sum(1 for r in tsas if r.name == t.name or r.name.startswith(t.name + "-"))
                tsas.append(TsaRoot(t.name if n == 0 else f"{t.name}-{n + 1}", der))
    from evidence.ledger.anchor.capture_nodes import pinned_capture_nodes

    try:
        nodes = pinned_capture_nodes(cfg.data_dir)
    except ValueError as e:
        raise AnchorConfigError(str(e)) from None
    logs = (LogKey(log_key, log_url), *(LogKey(v, None, (lo, hi)) for v, lo, hi in retired))
    from evidence.ledger.shards import ShardError, frozen_pins

    try:  # each frozen shard's keys, windowed to its final size (formats.md "Temporal shards")
        logs = (*logs, *(LogKey(v, None, (lo, hi)) for v, lo, hi in frozen_pins(cfg.data_dir)))
    except ShardError as e:
        raise AnchorConfigError(str(e)) from None
    if mldsa is not None:
        logs = (*logs, LogKey(mldsa[0], None, (mldsa[1], MAX_TREE_SIZE)))
    # every #@ log-mldsa line after every #@ log-key line, as formats.md "ML-DSA-44
    # signatures" writes them (tests/ledger/test_trust_file.py); otherwise in the order above
    logs = (*(lg for lg in logs if not lg.post_quantum), *(lg for lg in logs if lg.post_quantum))
    policy = TrustPolicy(logs=logs, witnesses=witnesses, groups=groups,
                         quorum=quorum, tsas=tuple(tsas),
                         tsa_store_mozilla=any(t.preset and TSA_PRESETS[t.preset].mozilla
                                               for t in cfg.tsas),
                         capture_nodes=nodes)
    text = policy.to_text(comment=f"evidence trust policy for {log_key.name}")
    try:
        return parse_trust(text.encode())  # the court's parser: what it reads is what we wrote
    except TrustFileError as e:  # e.g. a capture-node key that is also the log key
        raise AnchorConfigError(f"the trust file cannot be written as configured: {e}") from None


def _der():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def add_witness(cfg: AnchorConfig, name: str, url: str, key: str, *,
                timeout: float = DEFAULT_TIMEOUT, qpd: int | None = None) -> AnchorConfig:
    if name in cfg.source_names:
        raise AnchorConfigError(f"a source named {name!r} is already configured")
    new = replace(cfg, witnesses=(*cfg.witnesses,
                                  WitnessSource(name, url, key, timeout, qpd=qpd)))
    save_anchor_config(new)
    return new


def remove_source(cfg: AnchorConfig, name: str) -> AnchorConfig:
    """Stop asking a source (its stored anchors stay in the database)."""
    if name not in cfg.source_names:
        raise AnchorConfigError(f"no source named {name!r}")
    witnesses = tuple(w for w in cfg.witnesses if w.name != name)
    new = replace(cfg, tsas=tuple(t for t in cfg.tsas if t.name != name), witnesses=witnesses,
                  witness_quorum=min(cfg.witness_quorum, len(witnesses)))
    save_anchor_config(new)
    return new
