"""The trust file (docs/verdict.md section 3): the strict parser, the quorum, the
canonical text and its fingerprint; hostile bytes give a clear error naming the line,
never a crash and never a silently skipped pin."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.verify.note import ALG_COSIGNATURE_V1, generate_signer
from evidence.verify.trust import (
    Group,
    LogKey,
    TrustFileError,
    TrustPolicy,
    TsaRoot,
    Witness,
    parse_trust,
    policy_from_pins,
)
from tests.support.trust_vectors import BAD, GOOD, LOG, LOG2, NODE, ROOT, ROOT2, W


def test_parse_a_full_file() -> None:
    p = parse_trust(GOOD)
    assert [lg.verifier for lg in p.logs] == [LOG, LOG2]
    assert p.logs[0].url == "https://evidence.example/"
    assert [w.name for w in p.witnesses] == ["court-w1", "notary-w2", "w3"]
    assert p.groups[0] == Group("two", "2", ("court-w1", "notary-w2", "w3"))
    assert p.groups[1].k == 1 and p.quorum == "witnesses"
    assert p.tsas == (TsaRoot("national-tsa", ROOT),) and p.tsa_store_mozilla
    assert p.capture_nodes[0].name == "shanghai-1" and p.capture_nodes[0].verifier == NODE
    assert p.fingerprint == hashlib.sha256(GOOD).hexdigest()
    assert p.log_for_origin("other.example/log") == LOG2
    assert p.log_for_origin("evil.example/log") is None
    assert b"-----BEGIN CERTIFICATE-----" in p.tsa_pems[0]


def test_quorum_by_groups() -> None:
    p = parse_trust(GOOD)
    assert not p.satisfied([])
    assert p.satisfied(["w3"])  # "any" of (two, w3): w3 alone
    assert not p.satisfied(["court-w1"])
    assert p.satisfied(["court-w1", "notary-w2"])  # "two" satisfied
    # by key: a verified cosignature is matched by key name and key id
    assert p.satisfied([W[0], W[1]]) and not p.satisfied([W[0], W[3]])
    assert p.witness_names([W[3], "stranger"]) == set()
    allp = parse_trust(GOOD.replace(b"group witnesses any two w3",
                                    b"group witnesses all two w3"))
    assert not allp.satisfied(["w3"]) and allp.satisfied(["court-w1", "notary-w2", "w3"])
    single = parse_trust(f"log {LOG.to_string()}\nwitness a {W[0].to_string()}\n"
                         "quorum a\n".encode())
    assert single.satisfied([W[0]]) and not single.satisfied([])
    none = parse_trust(f"log {LOG.to_string()}\nquorum none\n".encode())
    assert none.quorum is None and none.satisfied([]) and not none.checks_cosignatures


def test_canonical_text_round_trips() -> None:
    p = parse_trust(GOOD)
    text = p.to_text(comment="exported 2026-12-06T21:00:00Z")
    q = parse_trust(text.encode())
    assert q == p and q.fingerprint == hashlib.sha256(text.encode()).hexdigest()
    assert text.startswith("# exported") and text.endswith("\n") and "\r" not in text
    assert parse_trust(q.to_text().encode()).to_text() == q.to_text()  # stable


def test_cli_shorthand_is_a_trust_file() -> None:
    p = policy_from_pins([LOG], [W[0], W[1]], 2, [x509.load_der_x509_certificate(ROOT)
                                                  .public_bytes(Encoding.PEM)])
    assert p.groups == (Group("cli", "2", ("w1", "w2")),) and p.quorum == "cli"
    assert p.tsas[0].der == ROOT
    assert "group cli 2 w1 w2\nquorum cli\n" in p.to_text()
    assert policy_from_pins([LOG], [W[0]], 0).quorum is None
    assert policy_from_pins([LOG]).to_text() == f"log {LOG.to_string()}\nquorum none\n"
    with pytest.raises(TrustFileError, match="more than the 1 witness"):
        policy_from_pins([LOG], [W[0]], 2)
    with pytest.raises(TrustFileError, match="not an Ed25519"):
        policy_from_pins([W[0]])


@pytest.mark.parametrize(("data", "line", "message"), BAD, ids=[m for _, _, m in BAD])
def test_refusals_name_the_line(data: bytes, line: int | None, message: str) -> None:
    with pytest.raises(TrustFileError) as exc:
        parse_trust(data)
    assert message in str(exc.value), str(exc.value)
    assert exc.value.line == line
    assert "\n" not in str(exc.value)


def test_bare_extension_marker_is_a_comment() -> None:
    """Trailing whitespace is ignored first, so a bare '#@' is not followed by a space:
    a comment, as a plain tlog-policy parser reads it too."""
    p = parse_trust(f"log {LOG.to_string()}\n#@ \t\n#@\nquorum none\n".encode())
    assert p.quorum is None and not p.tsas


def test_limits() -> None:
    ws = [generate_signer(f"w{i}.example", ALG_COSIGNATURE_V1).verifier() for i in range(33)]
    text = f"log {LOG.to_string()}\n" + "".join(
        f"witness n{i} {w.to_string()}\n" for i, w in enumerate(ws)) + "quorum none\n"
    with pytest.raises(TrustFileError, match="line 34: more than 32 witnesses"):
        parse_trust(text.encode())


def test_whitespace_and_the_final_newline() -> None:
    """docs/verdict.md section 3: lines end in LF, so a last line without one is refused
    (by line number), as the page and the script refuse it."""
    p = parse_trust(f"\n  \t log\t{LOG.to_string()}  \n\nquorum none\n".encode())
    assert p.logs[0].verifier == LOG and p.quorum is None
    with pytest.raises(TrustFileError, match="line 4: the last line does not end in LF"):
        parse_trust(f"\n  \t log\t{LOG.to_string()}  \n\nquorum none".encode())


# --- properties ---------------------------------------------------------------------------

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12
                 ).filter(lambda n: n not in ("none",))


@st.composite
def policies(draw: st.DrawFn) -> TrustPolicy:
    n = draw(st.integers(0, 4))
    names = draw(st.lists(_names, min_size=n, max_size=n, unique=True))
    witnesses = tuple(Witness(name, W[i], draw(st.none() | st.just(f"https://{name}.x/")))
                      for i, name in enumerate(names))
    groups: list[Group] = []
    quorum = None
    if witnesses and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        k = draw(st.sampled_from(["any", "all", *map(str, range(1, len(members) + 1))]))
        gname = draw(_names.filter(lambda x: x not in names))
        groups.append(Group(gname, k, tuple(members)))
        quorum = gname
    elif witnesses and draw(st.booleans()):
        quorum = names[0]
    logs = (LogKey(LOG, draw(st.none() | st.just("https://log.example/"))),
            *((LogKey(LOG2),) if draw(st.booleans()) else ()))
    tsas = tuple(TsaRoot(f"t{i}", d) for i, d in enumerate(draw(st.sampled_from(
        [(), (ROOT,), (ROOT, ROOT2)]))))
    return TrustPolicy(logs=logs, witnesses=witnesses, groups=tuple(groups), quorum=quorum,
                       tsas=tsas, tsa_store_mozilla=draw(st.booleans()))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_to_text_then_parse_round_trips(p: TrustPolicy) -> None:
    text = p.to_text(comment="x")
    q = parse_trust(text.encode())
    assert q == p
    assert q.to_text(comment="x") == text


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_give_clear_errors(data: bytes) -> None:
    try:
        parse_trust(data)
    except TrustFileError as e:
        assert str(e).startswith("trust file") and "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_good_file_only_ever_gives_clear_errors(data: st.DataObject) -> None:
    raw = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        parse_trust(bytes(raw))
    except TrustFileError as e:
        assert str(e).startswith("trust file") and "\n" not in str(e)
