"""The page's RFC 9162 inclusion check (static/verify/verify.js ``verifyInclusion``, which
every bundle's proof goes through) in Chromium, against transparency-dev/merkle's probes
(``../shared/vectors/transparency-dev-merkle/inclusion``): it accepts exactly the probes the
vectors accept, as the package (tests/verify/test_merkle.py) and scripts/verify_bundle.py
(tests/auditor/test_merkle_vectors_scripts.py) do, and each refusal says why."""

from __future__ import annotations

import json

from tests.support.browser import Page
from tests.support.vectors import VECTORS, vector_path


def test_page_inclusion_accepts_what_the_vectors_accept(tab: Page) -> None:
    folder = vector_path("transparency-dev-merkle", "inclusion")
    cases = [(str(p.relative_to(VECTORS)), json.loads(p.read_text()))
             for p in sorted(folder.rglob("*.json"))]
    assert len(cases) > 50
    tab.open(keys=False)
    got = tab.page.evaluate("""async (text) => {
        const b64 = (s) => Uint8Array.from(atob(s || ''), (c) => c.charCodeAt(0));
        const out = [];
        for (const c of JSON.parse(text)) {
          try {
            await EvidenceVerify.verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash),
                                                 (c.proof || []).map(b64), b64(c.root));
            out.push([true, '']);
          } catch (e) {
            out.push([false, String(e && e.message)]);
          }
        }
        return JSON.stringify(out);
    }""", json.dumps([c for _, c in cases]))
    answers = json.loads(got)
    differ = [(name, c["wantErr"], a) for (name, c), a in zip(cases, answers, strict=True)
              if a[0] is c["wantErr"]]
    assert not differ, differ
    assert all(msg for accepted, msg in answers if not accepted)
