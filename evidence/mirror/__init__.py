"""A mirror of a log (c2sp.org/tlog-mirror): a copy of its tiles, verified entry by entry,
served again, and cosigned.

``evidence mirror URL`` reads a log through its C2SP tlog-tiles (any log that serves
them, ours or another's whose entries are evidence-ledger entries), checks every entry,
every tile and the consistency of every new checkpoint with the last one it mirrored,
keeps the copy in its own directory in the same layout, cosigns each checkpoint it
verified with a tlog-cosignature/v1 (Ed25519) key, and serves the copy under the same
paths. Read in this order: :mod:`.sync` (one round: what is checked, in what order),
:mod:`.mirror_dir` (the directory and resuming), :mod:`.source` (reading the log),
:mod:`.server` (the read path), :mod:`.follow` (the loop).

Which parts of the draft this follows, and which not, is in docs/formats.md ("Mirror").
Layer: beside ``api`` and ``witness``; it uses ``ledger``'s tile layout and store and
``verify``'s rules, and nothing imports it but the CLI.
"""
