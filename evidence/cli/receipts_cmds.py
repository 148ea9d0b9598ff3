"""``evidence verify-receipts``: check many full proofs offline against pinned keys.

For a rights holder after a bulk import, or an auditor handed a stack of
receipts: no server, no database, only the log's verifier key (and witness
keys) the user already trusts. Input is what ``evidence receipt --json``
prints, one JSON object per line (JSON Lines), or a JSON array of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from evidence.cli.output import emit_json
from evidence.cli.trust_options import load_policy, pinned_key_options
from evidence.verify.errors import VerificationError
from evidence.verify.fast.inclusion_batch import InclusionBatch
from evidence.verify.full_proof import FullProofChecker, NotYetCovered
from evidence.verify.note import ALG_ED25519
from evidence.verify.trust import TrustPolicy

MAX_LINE = 1 << 20  # one full proof is a few KB; a longer line is not one
SHOWN_FAILURES = 20


def _records(name: str, stream: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """(where, parsed JSON or the exception that stopped it) for each record."""
    head = stream.peek(1)[:1] if hasattr(stream, "peek") else b""
    if head == b"[":  # one JSON array
        try:
            items = json.loads(stream.read())
        except (ValueError, UnicodeDecodeError) as e:
            yield f"{name}", ValueError(f"not JSON: {e}")
            return
        for i, item in enumerate(items if isinstance(items, list) else [items]):
            yield f"{name}[{i}]", item
        return
    for lineno, raw in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), 1):
        if len(raw) > MAX_LINE:
            yield f"{name}:{lineno}", ValueError(f"line longer than {MAX_LINE} bytes")
            stream.readline()  # skip the rest of it
            continue
        if not raw.strip():
            continue
        try:
            yield f"{name}:{lineno}", json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            yield f"{name}:{lineno}", ValueError(f"not JSON: {e}")


def _checker(policy: TrustPolicy) -> FullProofChecker:
    """A full-proof checker for the policy: one log, and a quorum that is a count of
    witnesses (``quorum none``, one witness, or one group of witnesses)."""
    logs = [lg for lg in policy.logs if lg.verifier.alg == ALG_ED25519]
    if len({lg.verifier.name for lg in logs}) != 1:  # a rotated log: its keys, one name
        raise click.UsageError(f"verify-receipts checks one log; the trust file names "
                               f"{len({lg.verifier.name for lg in logs})}")
    by_name = {w.name: w.verifier for w in policy.witnesses}
    group = next((g for g in policy.groups if g.name == policy.quorum), None)
    if policy.quorum is None:
        keys, k = list(by_name.values()), 0
    elif group is None:
        keys, k = [by_name[policy.quorum]], 1
    elif all(m in by_name for m in group.members):
        keys, k = [by_name[m] for m in group.members], group.k
    else:
        raise click.UsageError("verify-receipts takes a quorum of witnesses, not of nested "
                               "groups; use evidence verify for such a trust file")
    # the log's ML-DSA-44 key, when pinned, is required on checkpoints from its first size
    pq = [lg for lg in policy.logs if lg.post_quantum and lg.verifier.name == logs[0].verifier.name]
    log_keys = [(lg.verifier, lg.window) for lg in (*logs, *pq)]
    return FullProofChecker(logs[0].verifier if len(log_keys) == 1 else log_keys,
                            witness_keys=keys, quorum=k, inclusion=InclusionBatch)


@click.command("verify-receipts")
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@pinned_key_options("How many pinned witnesses must have cosigned each checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_receipts_cmd(files: tuple[IO[bytes], ...], trust_file: str | None,
                        trust_sha256: str | None, log_key: str | None,
                        witness_keys: tuple[str, ...], witness_quorum: int | None,
                        as_json: bool) -> None:
    """Check full proofs (`evidence receipt --json` output, one per line) offline.

    Each receipt must be signed by the log key and name its entry; each checkpoint must be
    signed by the log key (and the witness quorum); each inclusion proof must put the entry
    in its checkpoint. Exit status 0 only when every record is a full proof that holds;
    receipts that no checkpoint covered yet are counted apart and also give status 1.

      evidence verify-receipts proofs.jsonl --trust trust.txt
      evidence verify-receipts proofs.jsonl --log-key log.vkey
    """
    checker = _checker(load_policy(trust_file, trust_sha256, log_key, witness_keys,
                                   witness_quorum))
    proven, pending, failed = 0, [], []
    sizes: set[int] = set()
    show_progress = not as_json and sys.stderr.isatty()
    for f in files:
        for where, record in _records(f.name, f):
            evidence_id = record.get("evidence_id") if isinstance(record, dict) else None
            try:
                if isinstance(record, Exception):
                    raise record
                got = checker.check(record)
            except NotYetCovered as e:
                pending.append({"where": where, "evidence_id": evidence_id, "error": str(e)})
                continue
            except (VerificationError, ValueError) as e:
                failed.append({"where": where, "evidence_id": evidence_id, "error": str(e)})
                continue
            proven += 1
            sizes.add(got.tree_size)
            if show_progress and proven % 10_000 == 0:
                click.echo(f"\r{proven:,} proven", nl=False, err=True)
    if show_progress and proven >= 10_000:
        click.echo("", err=True)
    ok = not failed and not pending and proven > 0
    if as_json:
        emit_json({"ok": ok, "proven": proven, "not_yet_covered": pending, "failed": failed,
                   "checkpoint_sizes": sorted(sizes)})
    else:
        total = proven + len(pending) + len(failed)
        click.echo(f"{total:,} record(s): {proven:,} full proof(s) hold, "
                   f"{len(pending):,} not yet covered by a checkpoint, {len(failed):,} failed"
                   + (f" (checkpoint sizes: {', '.join(map(str, sorted(sizes)))})"
                      if sizes else ""))
        for what, rows in (("FAILED", failed), ("not yet covered", pending)):
            for row in rows[:SHOWN_FAILURES]:
                label = f" ({row['evidence_id']})" if row["evidence_id"] else ""
                click.echo(f"{what}: {row['where']}{label}: {row['error']}")
            if len(rows) > SHOWN_FAILURES:
                click.echo(f"... and {len(rows) - SHOWN_FAILURES:,} more {what} (see --json)")
    sys.exit(0 if ok else 1)
