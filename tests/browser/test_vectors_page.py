"""The page (static/verify/verify.js) in Chromium against other people's vectors, as the
package (tests/verify/) and scripts/verify_bundle.py (tests/auditor/test_vectors_scripts.py)
are held to them: its RFC 9162 inclusion check (``verifyInclusion``, which every bundle's
proof goes through) accepts exactly the transparency-dev/merkle probes the vectors accept,
each refusal saying why; its ``openNote`` verifies the keys Go's sumdb/note does on the
signed-note cases and refuses the ones that must fail; its key ids are the vectors'."""

from __future__ import annotations

import json

from tests.support.browser import Page
from tests.support.vectors import VECTORS, load_json, vector_path


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


def test_page_opens_notes_as_go_does(tab: Page) -> None:
    vectors = load_json("signed-note", "note_vectors.json")
    cases = vectors["verify_cases"]
    assert cases
    tab.open(keys=False)
    got = tab.page.evaluate("""async (text) => {
        const { verify, ids } = JSON.parse(text);
        const out = [];
        for (const c of verify) {
          try {
            const keys = [];
            for (const k of c.vkeys) keys.push(await EvidenceVerify.parseVerifierKey(k));
            const opened = await EvidenceVerify.openNote(new TextEncoder().encode(c.note), keys);
            out.push([...new Set(opened.verified.map((v) => v.name))].sort());
          } catch (e) {
            out.push(String(e && e.message) || 'refused without a reason');
          }
        }
        const keyIds = [];
        for (const c of ids) {
          const k = await EvidenceVerify.parseVerifierKey(c.vkey);
          keyIds.push(k.keyId.toString(16).padStart(8, '0'));
        }
        return JSON.stringify([out, keyIds]);
    }""", json.dumps({"verify": cases, "ids": vectors["key_id_cases"]}))
    answers, key_ids = json.loads(got)
    differ = []
    for case, answer in zip(cases, answers, strict=True):
        want = case["expect_verified_names"]
        if want is None:
            if not isinstance(answer, str):
                differ.append((case["id"], "verified", answer))
        elif answer != sorted(want):
            differ.append((case["id"], sorted(want), answer))
    assert not differ, differ
    assert key_ids == [c["key_id_hex"] for c in vectors["key_id_cases"]]
