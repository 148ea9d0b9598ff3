"""The trust file: the one thing a court pins (``docs/verdict.md`` section 3).

A C2SP tlog-policy file (``log``, ``witness``, ``group``, ``quorum`` lines) with our
extensions written on ``#@`` lines, which a plain tlog-policy parser takes for comments:
TSA root certificates, the opt-in Mozilla root store, capture-node keys. The parser is
strict because the file is a pin: a line it does not understand could be a pin the court
believes it made, so any doubt is an error naming the line, never a silent skip.

The file's fingerprint is the SHA-256 of its exact bytes, stated by the operator in
filings; :meth:`TrustPolicy.to_text` writes the canonical form, so that the same policy
exported twice has the same fingerprint.

Imports: stdlib, ``cryptography`` and ``evidence.verify`` only.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from evidence.verify.errors import MalformedInput, VerificationError
from evidence.verify.merkle import MAX_TREE_SIZE
from evidence.verify.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    ALG_MLDSA44,
    COSIGNING_ALGS,
    VerifiedSignature,
    Verifier,
    parse_verifier_key,
)

__all__ = [
    "MAX_SIZE",
    "Group",
    "LogKey",
    "TrustFileError",
    "TrustPolicy",
    "TsaRoot",
    "Witness",
    "parse_trust",
]

MAX_SIZE = 1 << 20
MAX_LOGS = 32
MAX_WITNESSES = 32
MAX_GROUPS = 32
MAX_TSAS = 64
MAX_CAPTURE_NODES = 64
NONE = "none"
MOZILLA = "mozilla"
_BAD_OCTET = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_SPLIT = re.compile(r"[ \t]+")
_DECIMAL = re.compile(r"\A[1-9][0-9]{0,5}\Z")


class TrustFileError(MalformedInput):
    """The trust file is not one this verifier can hold a court to; ``line`` is 1-based
    (None for the file as a whole)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"trust file line {line}: {message}" if line else
                         f"trust file: {message}")


@dataclass(frozen=True)
class LogKey:
    verifier: Verifier
    url: str | None = None
    window: tuple[int, int] | None = None
    """``(from_size, until_size)``, both inclusive, for a key rotated out or revoked
    (``#@ log-key``); None for a ``log`` line's key, pinned for every size. An ML-DSA-44
    key (``#@ log-mldsa``, alg 0x06) is required, not an alternative, on every checkpoint
    its window holds: ``(from_size, 2^64-1)``."""

    @property
    def post_quantum(self) -> bool:
        return self.verifier.alg == ALG_MLDSA44

    def holds(self, size: int) -> bool:
        """Whether this key may sign a checkpoint of ``size`` (docs/verdict.md section 3)."""
        return self.window is None or self.window[0] <= size <= self.window[1]


@dataclass(frozen=True)
class Witness:
    name: str
    verifier: Verifier
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: str
    """As written: ``any``, ``all`` or a decimal k (kept so that the text round-trips)."""
    members: tuple[str, ...]

    @property
    def k(self) -> int:
        return (1 if self.threshold == "any" else len(self.members)
                if self.threshold == "all" else int(self.threshold))


@dataclass(frozen=True)
class TsaRoot:
    name: str
    der: bytes = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def pem(self) -> bytes:
        b64 = base64.b64encode(self.der).decode()
        lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
        return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines)
                + "\n-----END CERTIFICATE-----\n").encode()


@dataclass(frozen=True)
class CaptureNode:
    name: str
    verifier: Verifier


@dataclass(frozen=True)
class TrustPolicy:
    """What a verifier trusts, and nothing else. Build one with :func:`parse_trust`
    (from the court's file) or directly (then :meth:`to_text` is its file)."""

    logs: tuple[LogKey, ...]
    witnesses: tuple[Witness, ...] = ()
    groups: tuple[Group, ...] = ()
    quorum: str | None = None
    """The name whose satisfaction the policy requires; None is ``quorum none``."""
    tsas: tuple[TsaRoot, ...] = ()
    tsa_store_mozilla: bool = False
    capture_nodes: tuple[CaptureNode, ...] = ()
    raw: bytes | None = field(default=None, compare=False, repr=False)
    """The exact bytes this policy was parsed from (its fingerprint is theirs)."""

    # --- what the checks ask -----------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.raw if self.raw is not None
                              else self.to_text().encode()).hexdigest()

    def logs_for_origin(self, origin: str) -> tuple[LogKey, ...]:
        """Every pinned log key (``log`` and ``#@ log-key``) whose key name is ``origin``."""
        return tuple(lg for lg in self.logs if lg.verifier.name == origin)

    def log_for_origin(self, origin: str) -> Verifier | None:
        """The pinned log key whose key name is the checkpoint's origin (C2SP: a log's
        key name is its origin)."""
        return next((lg.verifier for lg in self.logs if lg.verifier.name == origin
                     and not lg.post_quantum), None)

    @property
    def witness_verifiers(self) -> list[Verifier]:
        return [w.verifier for w in self.witnesses]

    @property
    def tsa_pems(self) -> list[bytes]:
        return [t.pem for t in self.tsas]

    @property
    def checks_cosignatures(self) -> bool:
        return self.quorum is not None and bool(self.witnesses)

    def witness_names(self, cosigners: Iterable[str | Verifier | VerifiedSignature]
                      ) -> set[str]:
        """The pinned witnesses among ``cosigners`` (policy names, or keys matched by key
        name and key id)."""
        by_key = {(w.verifier.name, w.verifier.key_id): w.name for w in self.witnesses}
        names = {w.name for w in self.witnesses}
        out: set[str] = set()
        for c in cosigners:
            if isinstance(c, str):
                if c in names:
                    out.add(c)
            elif (c.name, c.key_id) in by_key:
                out.add(by_key[(c.name, c.key_id)])
        return out

    def satisfied(self, cosigners: Iterable[str | Verifier | VerifiedSignature]) -> bool:
        """Whether witnesses that verifiably cosigned satisfy the quorum (tlog-policy)."""
        if self.quorum is None:
            return True
        have = self.witness_names(cosigners)
        groups = {g.name: g for g in self.groups}
        memo: dict[str, bool] = {}

        def ok(name: str) -> bool:
            if name not in memo:
                g = groups.get(name)
                memo[name] = (name in have if g is None
                              else sum(ok(m) for m in g.members) >= g.k)
            return memo[name]

        return ok(self.quorum)

    def describe_quorum(self, zh: bool = False) -> str:
        if self.quorum is None:
            return NONE
        g = next((g for g in self.groups if g.name == self.quorum), None)
        if g is None:
            return f"见证方 {self.quorum}" if zh else f"witness {self.quorum}"
        if zh:
            k = "全部" if g.threshold == "all" else f"任 {g.k} 个"
            return f"{'、'.join(g.members)} 中{k}（{g.name}）"
        return f"{g.threshold} of {', '.join(g.members)} ({g.name})"

    # --- the file ----------------------------------------------------------------------

    def to_text(self, comment: str | None = None) -> str:
        """The canonical trust file: standard lines first, then the extensions."""
        out = [] if comment is None else [f"# {c}".rstrip() for c in comment.splitlines()]
        for lg in self.logs:
            if lg.window is None:
                out.append(" ".join(["log", lg.verifier.to_string(),
                                     *filter(None, [lg.url])]))
        for w in self.witnesses:
            out.append(" ".join(["witness", w.name, w.verifier.to_string(),
                                 *filter(None, [w.url])]))
        for g in self.groups:
            out.append(" ".join(["group", g.name, g.threshold, *g.members]))
        out.append(f"quorum {self.quorum or NONE}")
        for t in self.tsas:
            out.append(f"#@ tsa {t.name} {base64.b64encode(t.der).decode()}")
        if self.tsa_store_mozilla:
            out.append(f"#@ tsa-store {MOZILLA}")
        for n in self.capture_nodes:
            out.append(f"#@ capture-node {n.name} {n.verifier.to_string()}")
        for lg in self.logs:
            if lg.post_quantum:
                assert lg.window is not None
                out.append(f"#@ log-mldsa {lg.verifier.to_string()} {lg.window[0]}")
            elif lg.window is not None:
                out.append(f"#@ log-key {lg.verifier.to_string()} {lg.window[0]} "
                           f"{lg.window[1]}")
        return "\n".join(out) + "\n"


# --- parsing --------------------------------------------------------------------------------


def parse_trust(data: bytes) -> TrustPolicy:
    """Parse a trust file strictly; raise :class:`TrustFileError` naming the line."""
    if not isinstance(data, bytes | bytearray):
        raise TrustFileError("must be bytes")
    data = bytes(data)
    if len(data) > MAX_SIZE:
        raise TrustFileError(f"{len(data)} bytes; the limit is {MAX_SIZE} (1 MiB)")
    p = _Parser()
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, 1):
        if lineno == len(lines) and raw:  # bytes after the last LF
            if b"\r" in raw:
                raise TrustFileError("carriage return (CR): lines must end in LF only", lineno)
            raise TrustFileError("the last line does not end in LF", lineno)
        p.line(lineno, raw)
    return p.finish(data)


def _vkey(text: str, lineno: int, what: str, alg: int | None = None) -> Verifier:
    try:
        v = parse_verifier_key(text)
    except (VerificationError, ValueError) as e:
        raise TrustFileError(f"{what}: {e}", lineno) from None
    algs = {None: (ALG_ED25519, ALG_COSIGNATURE_V1), ALG_COSIGNATURE_V1: COSIGNING_ALGS}
    if v.alg not in algs.get(alg, (alg,)):
        kind = {ALG_ED25519: "an Ed25519 (0x01) log key",
                ALG_MLDSA44: "an ML-DSA-44 (0x06) key",
                ALG_COSIGNATURE_V1: "a cosignature/v1 (0x04) or ML-DSA-44 (0x06) witness key",
                None: "an Ed25519 (0x01 or 0x04) key"}[alg]
        raise TrustFileError(f"{what}: {v.name} is not {kind}", lineno)
    return v


class _Parser:
    def __init__(self) -> None:
        self.logs: list[LogKey] = []
        self.windowed: list[LogKey] = []
        self.post_quantum: list[tuple[LogKey, int]] = []
        self.witnesses: dict[str, Witness] = {}
        self.groups: dict[str, Group] = {}
        self.quorum: tuple[str | None] | None = None
        self.tsas: dict[str, TsaRoot] = {}
        self.store = False
        self.nodes: dict[str, CaptureNode] = {}
        self.keys: set[tuple[str, int]] = set()

    def line(self, n: int, raw: bytes) -> None:
        if raw.endswith(b"\r") or b"\r" in raw:
            raise TrustFileError("carriage return (CR): lines must end in LF only", n)
        if m := _BAD_OCTET.search(raw):
            raise TrustFileError(f"control octet 0x{raw[m.start()]:02x} is not allowed", n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TrustFileError("not valid UTF-8", n) from None
        text = text.strip(" \t")
        if not text:
            return
        if text.startswith("#@") and text[2:3] in (" ", "\t"):
            self.extension(n, _SPLIT.split(text[2:].strip(" \t")))
        elif text.startswith("#"):
            return
        else:
            self.standard(n, _SPLIT.split(text))

    def _key(self, n: int, v: Verifier) -> None:
        k = (v.name, v.key_id)
        if k in self.keys:
            raise TrustFileError(f"duplicate key {v.name}+{v.key_id:08x}", n)
        self.keys.add(k)

    def _new_name(self, n: int, name: str) -> None:
        if name == NONE:
            raise TrustFileError(f"the name {NONE!r} is reserved", n)
        if name in self.witnesses or name in self.groups:
            raise TrustFileError(f"duplicate name {name[:64]!r}", n)

    def standard(self, n: int, items: list[str]) -> None:
        word, args = items[0], items[1:]
        if self.quorum is not None and word == "quorum":
            raise TrustFileError("a second quorum line (exactly one is allowed)", n)
        if word == "log":
            if len(args) not in (1, 2):
                raise TrustFileError("expected: log <vkey> [<url>]", n)
            if len(self.logs) + len(self.windowed) >= MAX_LOGS:
                raise TrustFileError(f"more than {MAX_LOGS} logs", n)
            v = _vkey(args[0], n, "log key", ALG_ED25519)
            self._key(n, v)
            self.logs.append(LogKey(v, args[1] if len(args) == 2 else None))
        elif word == "witness":
            if len(args) not in (2, 3):
                raise TrustFileError("expected: witness <name> <vkey> [<url>]", n)
            if len(self.witnesses) >= MAX_WITNESSES:
                raise TrustFileError(f"more than {MAX_WITNESSES} witnesses", n)
            self._new_name(n, args[0])
            v = _vkey(args[1], n, f"witness {args[0][:64]} key", ALG_COSIGNATURE_V1)
            self._key(n, v)
            self.witnesses[args[0]] = Witness(args[0], v, args[2] if len(args) == 3 else None)
        elif word == "group":
            self.group(n, args)
        elif word == "quorum":
            if len(args) != 1:
                raise TrustFileError("expected: quorum <name>|none", n)
            name = args[0]
            if name != NONE and name not in self.witnesses and name not in self.groups:
                raise TrustFileError(f"quorum names {name[:64]!r}, which is not a witness or "
                                     "group defined above", n)
            self.quorum = (None if name == NONE else name,)
        else:
            raise TrustFileError(f"unknown line {word[:40]!r} (expected log, witness, group "
                                 "or quorum; extensions start with '#@ ')", n)

    def group(self, n: int, args: list[str]) -> None:
        if len(args) < 3:
            raise TrustFileError("expected: group <name> <k|any|all> <member>...", n)
        if len(self.groups) >= MAX_GROUPS:
            raise TrustFileError(f"more than {MAX_GROUPS} groups", n)
        name, threshold, members = args[0], args[1], args[2:]
        self._new_name(n, name)
        seen: set[str] = set()
        for m in members:
            if m not in self.witnesses and m not in self.groups:
                raise TrustFileError(f"group {name[:64]} names {m[:64]!r}, which is not a "
                                     "witness or group defined above", n)
            if m in seen:
                raise TrustFileError(f"group {name[:64]} names {m[:64]!r} twice", n)
            seen.add(m)
        if threshold not in ("any", "all") and not (
                _DECIMAL.match(threshold) and 1 <= int(threshold) <= len(members)):
            raise TrustFileError(f"group {name[:64]}: threshold {threshold[:20]!r} must be "
                                 f"any, all or a number from 1 to {len(members)}", n)
        self.groups[name] = Group(name, threshold, tuple(members))

    def extension(self, n: int, items: list[str]) -> None:
        word, args = items[0], items[1:]
        if word == "tsa":
            if len(args) != 2:
                raise TrustFileError("expected: #@ tsa <name> <base64 DER certificate>", n)
            name, b64 = args
            if name in self.tsas:
                raise TrustFileError(f"duplicate TSA name {name[:64]!r}", n)
            if len(self.tsas) >= MAX_TSAS:
                raise TrustFileError(f"more than {MAX_TSAS} TSA roots", n)
            try:
                cert_der = base64.b64decode(b64.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError, ValueError):
                raise TrustFileError(f"TSA {name[:64]}: the certificate is not base64",
                                     n) from None
            if not _parses(cert_der):
                raise TrustFileError(f"TSA {name[:64]}: not a DER X.509 certificate",
                                     n) from None
            problem = root_problem(x509.load_der_x509_certificate(cert_der))
            if problem:
                raise TrustFileError(f"TSA {name[:64]}: {problem}", n)
            if any(t.der == cert_der for t in self.tsas.values()):
                raise TrustFileError(f"TSA {name[:64]}: the same certificate twice", n)
            self.tsas[name] = TsaRoot(name, cert_der)
        elif word == "tsa-store":
            if args != [MOZILLA]:
                raise TrustFileError("expected: #@ tsa-store mozilla (the only store known)",
                                     n)
            if self.store:
                raise TrustFileError("a second tsa-store line", n)
            self.store = True
        elif word == "log-key":
            if len(args) != 3:
                raise TrustFileError("expected: #@ log-key <vkey> <from-size> <until-size>", n)
            if len(self.logs) + len(self.windowed) >= MAX_LOGS:
                raise TrustFileError(f"more than {MAX_LOGS} logs", n)
            v = _vkey(args[0], n, "log key", ALG_ED25519)
            lo, hi = (_size(a, n, w) for a, w in zip(args[1:], ("from", "until"), strict=True))
            if lo > hi:
                raise TrustFileError(f"log key {v.name}: from-size {lo} is larger than "
                                     f"until-size {hi}", n)
            self._key(n, v)
            self.windowed.append(LogKey(v, None, (lo, hi)))
        elif word == "log-mldsa":
            if len(args) != 2:
                raise TrustFileError("expected: #@ log-mldsa <vkey> <from-size>", n)
            if len(self.logs) + len(self.windowed) + len(self.post_quantum) >= MAX_LOGS:
                raise TrustFileError(f"more than {MAX_LOGS} logs", n)
            v = _vkey(args[0], n, "ML-DSA-44 log key", ALG_MLDSA44)
            lo = _size(args[1], n, "from")
            if any(lg.verifier.name == v.name for lg, _ in self.post_quantum):
                raise TrustFileError(f"a second ML-DSA-44 key for the log {v.name[:64]} (one "
                                     "per log)", n)
            self._key(n, v)
            self.post_quantum.append((LogKey(v, None, (lo, MAX_TREE_SIZE)), n))
        elif word == "capture-node":
            if len(args) != 2:
                raise TrustFileError("expected: #@ capture-node <name> <vkey>", n)
            if args[0] in self.nodes:
                raise TrustFileError(f"duplicate capture node {args[0][:64]!r}", n)
            if len(self.nodes) >= MAX_CAPTURE_NODES:
                raise TrustFileError(f"more than {MAX_CAPTURE_NODES} capture nodes", n)
            v = _vkey(args[1], n, f"capture node {args[0][:64]} key")
            self._key(n, v)
            self.nodes[args[0]] = CaptureNode(args[0], v)
        else:
            raise TrustFileError(f"unknown extension {word[:40]!r} (known: tsa, tsa-store, "
                                 "capture-node, log-key, log-mldsa); a pin must mean exactly "
                                 "what it says", n)

    def finish(self, data: bytes) -> TrustPolicy:
        if not self.logs:
            raise TrustFileError("names no log key (a 'log <vkey>' line is required)")
        if self.quorum is None:
            raise TrustFileError("has no quorum line (write 'quorum none' when no witness "
                                 "is required)")
        for lg, n in self.post_quantum:  # a frozen shard's: beside its #@ log-key windows
            if not any(k.verifier.name == lg.verifier.name for k in (*self.logs,
                                                                     *self.windowed)):
                raise TrustFileError(f"the ML-DSA-44 key names the log {lg.verifier.name[:64]}"
                                     ", which no 'log' or '#@ log-key' line pins (it signs "
                                     "beside the log's Ed25519 key, never alone)", n)
        pq = tuple(lg for lg, _ in self.post_quantum)
        return TrustPolicy(
            logs=(*self.logs, *self.windowed, *pq), witnesses=tuple(self.witnesses.values()),
            groups=tuple(self.groups.values()), quorum=self.quorum[0],
            tsas=tuple(self.tsas.values()), tsa_store_mozilla=self.store,
            capture_nodes=tuple(self.nodes.values()), raw=data)


_SIZE = re.compile(r"\A(0|[1-9][0-9]{0,15})\Z")
MAX_WINDOW_SIZE = 2**53 - 1
"""Window sizes are at most 2^53-1, so that the page reads them as exact numbers."""


def _size(text: str, n: int, what: str) -> int:
    if not _SIZE.match(text) or int(text) > MAX_WINDOW_SIZE:
        raise TrustFileError(f"log key {what}-size {text[:30]!r} is not a decimal from 0 "
                             f"to 2^53-1 (no sign, no leading zero)", n)
    return int(text)


def _parses(cert_der: bytes) -> bool:
    """The whole certificate parses, not only its outer frame: cryptography reads the key,
    names, validity and extensions lazily, and a pin whose key cannot be read would only
    fail later, inside a check, as something else."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a non-positive serial number: still readable
            cert = x509.load_der_x509_certificate(cert_der)
            cert.public_key()
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            _ = cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc
            _ = cert.serial_number, cert.signature, cert.tbs_certificate_bytes
    except Exception:  # ValueError, UnsupportedAlgorithm, InvalidVersion...: not a pin
        return False
    return True


_PIN_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def root_problem(cert: x509.Certificate) -> str | None:
    """Why a certificate cannot be a pinned TSA root, or None.

    A pin must be a root: self-issued (issuer and subject the same DER name, and where it
    carries both key identifiers, the same key identifier), because every verifier ends a
    certificate path only at a self-issued certificate; a pinned intermediate would be
    looked past in vain. Its key must be of a kind all three verifiers can use (RSA with an
    odd modulus and an odd exponent of at least 3, or EC on P-256, P-384 or P-521), so that
    a pin never means "trusted" to one verifier and "unusable" to another."""
    if cert.issuer.public_bytes() != cert.subject.public_bytes():
        return "not a root certificate (its issuer is another name): pin the TSA's root"
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        pass
    else:
        if aki.key_identifier is not None and aki.key_identifier != ski.digest:
            return "not a root certificate (its authority key identifier is another key)"
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        if nums.n % 2 == 0 or nums.e % 2 == 0 or nums.e < 3:
            return "an RSA key that does not parse (even modulus or bad exponent)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _PIN_CURVES):
        return None
    return ("a public key of a kind not supported (only RSA and EC P-256, P-384, P-521)")


def policy_from_pins(log_keys: Sequence[Verifier], witness_keys: Sequence[Verifier] = (),
                     witness_quorum: int = 0, tsa_roots: Sequence[bytes] = ()) -> TrustPolicy:
    """The command-line shorthand (``--log-key``, ``--witness-key``, ``--witness-quorum``,
    ``--tsa-ca``) as the trust file it stands for: ``group cli N w1 w2 ...`` +
    ``quorum cli``; N = 0 or no witness is ``quorum none``. ``tsa_roots`` are PEM or DER
    certificates (a PEM file may hold several)."""
    witnesses = tuple(Witness(f"w{i}", v) for i, v in enumerate(witness_keys, 1))
    groups: tuple[Group, ...] = ()
    quorum = None
    if witnesses and witness_quorum > 0:
        if witness_quorum > len(witnesses):
            raise TrustFileError(f"witness quorum {witness_quorum} is more than the "
                                 f"{len(witnesses)} witness key(s) given")
        groups = (Group("cli", str(witness_quorum), tuple(w.name for w in witnesses)),)
        quorum = "cli"
    elif witness_quorum > 0:
        raise TrustFileError(f"witness quorum {witness_quorum} with no witness key given")
    tsas: list[TsaRoot] = []
    for blob in tsa_roots:
        for cert_der in _certificates(blob):
            if all(t.der != cert_der for t in tsas):
                tsas.append(TsaRoot(f"tsa{len(tsas) + 1}", cert_der))
    policy = TrustPolicy(logs=tuple(LogKey(v) for v in log_keys), witnesses=witnesses,
                         groups=groups, quorum=quorum, tsas=tuple(tsas))
    return parse_trust(policy.to_text().encode())  # the same checks as a file gets


@functools.cache
def mozilla_roots() -> tuple[bytes, ...]:
    """Mozilla's root store as shipped by the ``certifi`` package of this machine, for a
    policy with ``#@ tsa-store mozilla``; empty when ``certifi`` is not installed (then a
    token chaining only there is not-checked, never pass). ``certifi`` is data only (one
    PEM file), read here, never imported into the checks."""
    try:
        import certifi
    except ImportError:
        return ()
    try:
        with open(certifi.where(), "rb") as f:
            return (f.read(),)
    except OSError:
        return ()


def _certificates(blob: bytes) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        if b"-----BEGIN" in blob:
            return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(blob)]
        return [x509.load_der_x509_certificate(blob).public_bytes(Encoding.DER)]
    except ValueError:
        raise TrustFileError("a TSA root is not a PEM or DER X.509 certificate") from None
