"""A real, anchored ledger for the log export and offline audit tests: SQLite in a temp
data dir, entries, signed checkpoints, RFC 3161 tokens from the local OpenSSL TSA
(``tests/support/tsa.py``) and witness cosignatures, all stored as anchoring stores them,
and an anchor configuration (the TSA, witnesses, a quorum) from which the trust file is
written.

Configured sources: TSA ``local-tsa`` (its root pinned), witnesses ``w1`` and ``w2`` with
quorum ``quorum``. ``anchor(size, tsa=..., witnesses=...)`` timestamps and cosigns the
stored checkpoint of ``size`` with whichever are named (a witness may also be a key no
configuration names: a cosignature by an unpinned witness)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from evidence.ledger.anchor.base import AnchorResult
from evidence.ledger.anchor.config import (
    add_tsa,
    add_witness,
    load_anchor_config,
    save_anchor_config,
    trust_policy,
)
from evidence.ledger.anchor.store import ensure_rows, record_success
from evidence.ledger.anchor.tsa_client import request_timestamp
from evidence.ledger.log import Ledger
from evidence.verify.checkpoint import cosign_checkpoint
from evidence.verify.note import ALG_COSIGNATURE_V1, Signer, generate_signer, parse_note

__all__ = ["AnchoredLedger", "build_anchored_ledger"]

ORIGIN = "audit.example/log"


@dataclass
class AnchoredLedger:
    dir: Path
    led: Ledger
    tsa_url: str
    ca_pem: bytes
    witnesses: dict[str, Signer]

    def trust_bytes(self) -> bytes:
        """The trust file `evidence trust export` writes for this ledger."""
        cfg = load_anchor_config(self.dir)
        return trust_policy(cfg, self.led.verifier).raw or b""

    def anchor(self, size: int, *, tsa: tuple[str, str, bytes] | None = None,
               witnesses: tuple[str, ...] = ()) -> None:
        """Timestamp (``tsa`` = (source name, URL, the CA PEM it chains to)) and cosign
        (each name in ``witnesses``: its key from :attr:`witnesses`, made if new) the
        stored checkpoint of ``size``, storing each result as anchoring does."""
        cp = self.led.checkpoint_at(size)
        assert cp is not None
        text = parse_note(cp.note).text
        now = datetime.now(UTC)
        if tsa is not None:
            name, url, ca = tsa
            ensure_rows(self.led.engine, size, [(name, "tsa", url)], now)
            tok = request_timestamp(url, text.encode(), trusted_ca_pems=[ca], timeout=30)
            v = tok.verdict
            assert v is not None
            record_success(self.led.engine, size, name, AnchorResult(
                proof_time=v.gen_time, token=tok.token, certs=tok.certificates,
                gen_time=v.gen_time, serial=v.serial_number, policy=v.policy,
                verifier=v.verifier), now)
        for name in witnesses:
            signer = self.witnesses.setdefault(
                name, generate_signer(f"{name}.example", ALG_COSIGNATURE_V1))
            t = int(now.timestamp())
            ensure_rows(self.led.engine, size, [(name, "witness", "http://witness.invalid")],
                        now)
            record_success(self.led.engine, size, name, AnchorResult(
                proof_time=datetime.fromtimestamp(t, UTC),
                cosignature=cosign_checkpoint(text, signer, cosigned_at=t), cosigned_at=t,
                verifier="witness-cosignature/v1"), now)


def build_anchored_ledger(root: Path, tsa_url: str, ca_pem_path: Path, *, entries: int = 40,
                          quorum: int = 1) -> AnchoredLedger:
    """A ledger of ``entries`` entries with checkpoints at 1, 10, 25 and the end; the
    checkpoints of 10 and 25 timestamped by ``local-tsa`` and cosigned by ``w1``."""
    d = root / "data"
    led = Ledger.create(d, ORIGIN, checkpoint_interval=3600)
    witnesses = {n: generate_signer(f"{n}.example", ALG_COSIGNATURE_V1) for n in ("w1", "w2")}
    cfg = add_tsa(load_anchor_config(d), "local-tsa", tsa_url, [ca_pem_path])
    for name, signer in witnesses.items():
        cfg = add_witness(cfg, name, "http://witness.invalid", signer.verifier().to_string())
    save_anchor_config(replace(cfg, witness_quorum=quorum))
    world = AnchoredLedger(d, led, tsa_url, ca_pem_path.read_bytes(), witnesses)
    for i in range(entries):
        led.append("custody.note", {"evidence_id": f"ev_{i % 4}", "n": i, "who": "法官 judge"})
        if i + 1 in (1, 10, 25):
            led.sign_checkpoint_now()
    led.sign_checkpoint_now()
    for size in (10, 25):
        world.anchor(size, tsa=("local-tsa", tsa_url, world.ca_pem), witnesses=("w1",))
    return world
