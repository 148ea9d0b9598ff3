"""Make and renew RFC 4998 evidence records, one TSA request for a whole group of items.

The choice (docs/decisions.md, docs/formats.md "Evidence records"): the reduced hash tree spans
the items built together, not each item alone, so that building or renewing N records costs one
TSA request, not N. Each item is a data group whose data objects are its files' bytes (the
original first, then what intake derived); with SHA-256 a file's hash is the SHA-256 the ledger
already recorded, and a hash-tree renewal re-reads the files under the new algorithm.

Tree shape: the leaves (one per item, :func:`evidence.verify.evidence_record.leaf_hash`) sorted
in binary order and paired left to right, an odd node carried up unchanged, each parent the hash
of its two children in binary order. An item's reduced hash tree: first list = its documents'
hashes (several files) or its hash and its first sibling (one file), then one sibling a list.
Records are checked with :func:`evidence.verify.evidence_record.verify_evidence_record` before
they are returned: a TSA that answers something else changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from evidence.ledger.anchor.tsa_client import DEFAULT_TIMEOUT_S, TsaToken, request_timestamp_digest
from evidence.ledger.errors import LedgerError
from evidence.verify import der
from evidence.verify.evidence_record import (
    ALGORITHMS,
    Document,
    document_hashes,
    leaf_hash,
    node_hash,
    parse_evidence_record,
    previous_chains_der,
    verify_evidence_record,
)

__all__ = ["ErsTsa", "RenewalRefused", "build_records", "renew_hash_tree", "renew_timestamps"]

_OIDS = {name: oid for oid, name in ALGORITHMS.items()}
_SEQ = 0x30


class RenewalRefused(LedgerError):
    """A record cannot be made or renewed as asked; nothing was changed."""


@dataclass(frozen=True)
class ErsTsa:
    """Where archive timestamps come from: a TSA URL, the roots its tokens must chain to and
    the policy OID they must carry (None: any), as for the checkpoints' tokens of the same
    configured TSA."""

    url: str
    ca_pems: tuple[bytes, ...]
    timeout: float = DEFAULT_TIMEOUT_S
    policy: str | None = None


def build_records(items: Sequence[Sequence[Document]], tsa: ErsTsa,
                  algorithm: str = "sha256") -> list[bytes]:
    """One EvidenceRecord per item (same order), all under one archive timestamp."""
    _need(items)
    groups = [document_hashes(algorithm, docs, None) for docs in items]
    leaves = [leaf_hash(algorithm, docs) for docs in items]
    root, paths = _tree(algorithm, leaves)
    token = _stamp(tsa, algorithm, root)
    records = []
    for hashes, leaf in zip(groups, leaves, strict=True):
        ats = _ats(algorithm, _reduced(hashes, paths[leaf]), token.token)
        chain = der.encode_tlv(_SEQ, ats)
        records.append(_record([algorithm], [chain]))
    return _checked(records, items, tsa)


def renew_timestamps(records: Sequence[bytes], items: Sequence[Sequence[Document]],
                     tsa: ErsTsa) -> list[bytes]:
    """RFC 4998 section 5.2: a new archive timestamp at the end of each record's last chain,
    over its previous token, same hash algorithm; one request covers every record."""
    _need(records)
    parsed = [parse_evidence_record(r) for r in records]
    names = {ALGORITHMS[p.chains[-1][0].digest_oid] for p in parsed}
    if len(names) != 1:
        raise RenewalRefused("records with different hash algorithms are renewed separately")
    (algorithm,) = names
    leaves = [hashlib.new(algorithm, p.chains[-1][-1].timestamp).digest() for p in parsed]
    root, paths = _tree(algorithm, leaves)
    token = _stamp(tsa, algorithm, root)
    out = []
    for p, leaf in zip(parsed, leaves, strict=True):
        ats = _ats(algorithm, _reduced([leaf], paths[leaf]), token.token)
        chains = list(p.chain_ders)
        last = der.parse_single(chains[-1], _SEQ)
        chains[-1] = der.encode_tlv(_SEQ, chains[-1][last.value_start:] + ats)
        out.append(_record([ALGORITHMS[o] for o in p.digest_oids], chains))
    return _checked(out, items, tsa)


def renew_hash_tree(records: Sequence[bytes], items: Sequence[Sequence[Document]],
                    tsa: ErsTsa, algorithm: str = "sha512") -> list[bytes]:
    """RFC 4998 section 5.3: a new chain under `algorithm` over each item's documents
    concatenated with the hash of all earlier chains; one request covers every record."""
    _need(records)
    if len(records) != len(items):
        raise RenewalRefused("one item's documents are needed for each record")
    parsed = [parse_evidence_record(r) for r in records]
    groups, leaves = [], []
    for p, docs in zip(parsed, items, strict=True):
        ha = hashlib.new(algorithm, previous_chains_der(p.chain_ders)).digest()
        hashes = document_hashes(algorithm, docs, ha)
        groups.append(hashes)
        leaves.append(hashes[0] if len(hashes) == 1 else node_hash(algorithm, hashes))
    root, paths = _tree(algorithm, leaves)
    token = _stamp(tsa, algorithm, root)
    out = []
    for p, hashes, leaf in zip(parsed, groups, leaves, strict=True):
        chain = der.encode_tlv(_SEQ, _ats(algorithm, _reduced(hashes, paths[leaf]), token.token))
        names = [ALGORITHMS[o] for o in p.digest_oids]
        out.append(_record(names + ([algorithm] if algorithm not in names else []),
                           [*p.chain_ders, chain]))
    return _checked(out, items, tsa)


# --- the tree -----------------------------------------------------------------------------------


def _tree(name: str, leaves: Sequence[bytes]) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """The root over the distinct leaves, and for each leaf its siblings from the bottom up."""
    level = sorted(set(leaves))
    members: list[list[bytes]] = [[leaf] for leaf in level]  # the leaves under each node
    paths: dict[bytes, list[bytes]] = {leaf: [] for leaf in level}
    while len(level) > 1:
        up, up_members = [], []
        for i in range(0, len(level) - 1, 2):
            for a, b in ((i, i + 1), (i + 1, i)):
                for leaf in members[a]:
                    paths[leaf].append(level[b])
            up.append(node_hash(name, [level[i], level[i + 1]]))
            up_members.append(members[i] + members[i + 1])
        if len(level) % 2:
            up.append(level[-1])
            up_members.append(members[-1])
        level, members = up, up_members
    return level[0], paths


def _reduced(hashes: list[bytes], siblings: list[bytes]) -> list[list[bytes]] | None:
    if len(hashes) > 1:
        return [hashes] + [[s] for s in siblings]
    if not siblings:
        return None
    return [[hashes[0], siblings[0]]] + [[s] for s in siblings[1:]]


# --- DER ----------------------------------------------------------------------------------------


def _algorithm_id(name: str) -> bytes:
    """AlgorithmIdentifier contents: the OID, parameters absent (RFC 5754 section 2)."""
    arcs = [int(a) for a in _OIDS[name].split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return der.encode_tlv(0x06, bytes(body))


def _ats(name: str, tree: list[list[bytes]] | None, token: bytes) -> bytes:
    """ArchiveTimeStamp { [0] digestAlgorithm, [2] reducedHashtree, timeStamp } (IMPLICIT)."""
    body = der.encode_tlv(0xA0, _algorithm_id(name))
    if tree is not None:
        lists = b"".join(der.encode_tlv(_SEQ, b"".join(der.encode_tlv(0x04, v) for v in values))
                         for values in tree)
        body += der.encode_tlv(0xA2, lists)
    return der.encode_tlv(_SEQ, body + token)


def _record(names: Sequence[str], chains: Sequence[bytes]) -> bytes:
    algorithms = b"".join(der.encode_tlv(_SEQ, _algorithm_id(n)) for n in names)
    return der.encode_tlv(_SEQ, b"\x02\x01\x01" + der.encode_tlv(_SEQ, algorithms)
                          + der.encode_tlv(_SEQ, b"".join(chains)))


# --- helpers ------------------------------------------------------------------------------------


def _need(things: Sequence[object]) -> None:
    if not things:
        raise RenewalRefused("no item to make or renew an evidence record for")


def _stamp(tsa: ErsTsa, name: str, root: bytes) -> TsaToken:
    """The only network step; it runs before any record is assembled, so a TSA that cannot be
    reached (TsaClientError) or answers badly (TimestampError) leaves every record as it was."""
    return request_timestamp_digest(tsa.url, _OIDS[name], root,
                                    trusted_ca_pems=list(tsa.ca_pems), policy_oid=tsa.policy,
                                    timeout=tsa.timeout)


def _checked(records: list[bytes], items: Sequence[Sequence[Document]], tsa: ErsTsa
             ) -> list[bytes]:
    for record, docs in zip(records, items, strict=True):
        verify_evidence_record(record, docs, list(tsa.ca_pems))
    return records
