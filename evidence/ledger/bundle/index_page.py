"""``index.html`` of an ``evidence-bundle/v2``: a clerk's table of contents.

A clerk who unzips a bundle opens this page and clicks a file to open it (docs/bundle.md
"Members"). The page is static: no script, no style sheet or image from anywhere, a
Content-Security-Policy that allows nothing but its own inline style, and every value
from the entry HTML-escaped (a file name is a party's claim: ``<script>`` in it is text).
Links are relative and percent-encoded, so they work from any folder the bundle is
unpacked into.

It proves nothing and says so: the verdict comes from the verifiers, which check this
page only against the manifest (docs/verdict.md, "Bundle formats").
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

__all__ = ["render_index"]

_STYLE = ("body{font:15px/1.5 system-ui,sans-serif;margin:2em;max-width:70em}"
          "table{border-collapse:collapse;width:100%}"
          "th,td{border-bottom:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}"
          "td.h{font:12px monospace;word-break:break-all}")


def render_index(evidence_id: str, files: Sequence[tuple[str, str, int, str, str]]) -> bytes:
    """The page for ``files``: (submitted name, media type, size, SHA-256, member path),
    in the submission entry's order."""
    e = escape
    rows = "\n".join(
        f'<tr><td><a href="{e(quote(path, safe="/"))}">{e(name)}</a></td>'
        f"<td>{e(media_type)}</td><td>{size:,}</td><td class=h>{e(sha)}</td></tr>"
        for name, media_type, size, sha, path in files)
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>{e(evidence_id)}: files / 文件</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{e(evidence_id)}</h1>
<p>The preserved files of this evidence item. Click a name to open the file.
This page is a convenience and proves nothing: whether these are the preserved files,
and since when, is what the verifier says (<code>tools/verify_bundle.py</code>, or
<code>report/report.html</code> for the report).</p>
<p>本证据保全的文件。点击文件名即可打开。本页面仅为方便查阅，不构成任何证明：
这些文件是否为保全时的文件、自何时起保全，以验证程序的结论为准
（<code>tools/verify_bundle.py</code>；报告见 <code>report/report.html</code>）。</p>
<table>
<thead><tr><th>File / 文件</th><th>Type / 类型</th><th>Bytes / 字节</th>
<th>SHA-256</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
""".encode()
