"""What a verifying command trusts, given the same way to every such command.

``evidence verify`` (bundles) and ``evidence verify-receipts`` (full proofs) take the
court's trust file (``--trust FILE``, pinned by ``--trust-sha256 HEX``) or its
command-line shorthand (``--log-key``, ``--witness-key``, ``--witness-quorum``,
``--tsa-ca``, and for bundles ``--capture-node``), which stands for the trust file
``docs/verdict.md`` section 3 spells out. One set of options and one parser, so that the
commands cannot drift apart.
Every problem with the pins is a usage error (exit 2): nothing is verified against
a pin that is not exactly what was meant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from evidence.verify.bundle import with_capture_nodes
from evidence.verify.errors import VerificationError
from evidence.verify.note import ALG_ED25519, Verifier, parse_verifier_key
from evidence.verify.trust import (
    MAX_SIZE,
    TrustFileError,
    TrustPolicy,
    parse_trust,
    policy_from_pins,
)

F = TypeVar("F", bound=Callable[..., Any])


def pinned_key_options(quorum_help: str, *, tsa: bool = False,
                       capture: bool = False) -> Callable[[F], F]:
    """``--trust``, ``--trust-sha256`` and the shorthand ``--log-key``, ``--witness-key``
    (repeatable), ``--witness-quorum`` (and ``--tsa-ca`` when ``tsa``, ``--capture-node``
    when ``capture``)."""
    def apply(f: F) -> F:
        if capture:
            f = click.option("--capture-node", "capture_nodes", multiple=True, metavar="VKEY",
                             help="Shorthand: a capture node's verifier key (or file) whose "
                                  "signed web captures you accept; repeat for several.")(f)
        if tsa:
            f = click.option("--tsa-ca", "tsa_cas", multiple=True,
                             type=click.Path(dir_okay=False, exists=True),
                             help="Shorthand: PEM file of a TSA root CA you trust; repeat "
                                  "for several.")(f)
        f = click.option("--witness-quorum", type=click.IntRange(min=0), default=None,
                         help=quorum_help + " Shorthand for a group and quorum line "
                                            "(default 0: quorum none).")(f)
        f = click.option("--witness-key", "witness_keys", multiple=True, metavar="VKEY",
                         help="Shorthand: a witness's verifier key (or file); repeat.")(f)
        f = click.option("--log-key", metavar="VKEY",
                         help="Shorthand for a trust file with one log: the log's verifier "
                              "key (or a file holding it).")(f)
        f = click.option("--trust-sha256", "trust_sha256", metavar="HEX",
                         help="The trust file's SHA-256, as the operator stated it: any "
                              "other file is refused (exit 2).")(f)
        return click.option("--trust", "trust_file", metavar="FILE",
                            type=click.Path(dir_okay=False),
                            help="The trust file (evidence trust export; GET "
                                 "/v1/log/trust): the log keys, witnesses, quorum and TSA "
                                 "roots the court pins.")(f)
    return apply


def read_key(value: str, what: str) -> Verifier:
    """A verifier key given inline (``name+id+base64``) or as a file holding one."""
    text = value
    p = Path(value)
    if "+" not in value or (p.is_file() and p.stat().st_size < 4096):
        try:
            text = p.read_text().strip()
        except OSError as e:
            raise click.BadParameter(f"{what} {value!r}: not a key and not a readable file "
                                     f"({e.strerror})") from None
    try:
        return parse_verifier_key(text)
    except (VerificationError, ValueError) as e:
        raise click.BadParameter(f"{what}: {e}") from None


def pinned_keys(log_key: str, witness_keys: tuple[str, ...]) -> tuple[Verifier, list[Verifier]]:
    """The log key (which must be an Ed25519 log key) and the witness keys."""
    log = read_key(log_key, "--log-key")
    if log.alg != ALG_ED25519:
        raise click.BadParameter("--log-key must be an Ed25519 log key (not a witness key)")
    return log, [read_key(k, "--witness-key") for k in witness_keys]


def _hex64(value: str) -> str:
    v = value.strip().lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise click.UsageError("--trust-sha256 must be 64 hex digits (the SHA-256 the "
                               "operator stated)")
    return v


def load_policy(trust_file: str | None, trust_sha256: str | None, log_key: str | None,
                witness_keys: tuple[str, ...], witness_quorum: int | None,
                tsa_cas: tuple[str, ...] = (), capture_nodes: tuple[str, ...] = ()
                ) -> TrustPolicy:
    """The policy the options stand for; any problem is a usage error (exit 2)."""
    if trust_file is not None:
        if log_key or witness_keys or witness_quorum is not None or tsa_cas or capture_nodes:
            raise click.UsageError("give --trust FILE or the shorthand --log-key/"
                                   "--witness-key/--witness-quorum/--tsa-ca/--capture-node, "
                                   "not both")
        try:
            with open(trust_file, "rb") as f:
                data = f.read(MAX_SIZE + 1)
        except OSError as e:
            raise click.UsageError(f"--trust {trust_file}: cannot read it ({e.strerror})"
                                   ) from None
        if trust_sha256 is not None:
            want, got = _hex64(trust_sha256), hashlib.sha256(data).hexdigest()
            if got != want:
                raise click.UsageError(f"--trust {trust_file}: its SHA-256 is {got}, not the "
                                       f"pinned {want}: this is not the trust file the "
                                       "operator stated; nothing was verified")
        try:
            return parse_trust(data)
        except TrustFileError as e:
            raise click.UsageError(f"--trust {trust_file}: {e}") from None
    if trust_sha256 is not None:
        raise click.UsageError("--trust-sha256 pins a trust file: give --trust FILE too")
    if not log_key:
        raise click.UsageError("give --trust FILE (the court's trust file) or at least "
                               "--log-key VKEY")
    log, witnesses = pinned_keys(log_key, witness_keys)
    pems = []
    for p in tsa_cas:
        data = Path(p).read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise click.BadParameter(f"--tsa-ca {p}: not a PEM certificate file")
        pems.append(data)
    nodes = [read_key(k, "--capture-node") for k in capture_nodes]
    try:
        return with_capture_nodes(policy_from_pins([log], witnesses, witness_quorum or 0,
                                                   pems), nodes)
    except TrustFileError as e:
        msg = str(e).removeprefix("trust file: ")
        raise click.BadParameter(msg, param_hint="--witness-quorum" if "quorum" in msg
                                 else None) from None
