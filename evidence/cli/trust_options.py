"""The keys a verifying command trusts, given the same way to every such command.

``evidence verify`` (bundles) and ``evidence verify-receipts`` (full proofs) both check
checkpoints against a pinned log key and, optionally, a quorum of pinned witnesses: one
set of options and one parser, so the two cannot drift apart in spelling or checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from evidence.verify.errors import VerificationError
from evidence.verify.note import ALG_ED25519, Verifier, parse_verifier_key

F = TypeVar("F", bound=Callable[..., Any])


def pinned_key_options(quorum_help: str) -> Callable[[F], F]:
    """``--log-key``, ``--witness-key`` (repeatable) and ``--witness-quorum``."""
    def apply(f: F) -> F:
        f = click.option("--witness-quorum", type=click.IntRange(min=0), default=0,
                         show_default=True, help=quorum_help)(f)
        f = click.option("--witness-key", "witness_keys", multiple=True, metavar="VKEY",
                         help="A witness's verifier key (or file); repeat for several.")(f)
        return click.option("--log-key", required=True, metavar="VKEY",
                            help="The log's verifier key (or a file holding it): the key "
                                 "you trust.")(f)
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
