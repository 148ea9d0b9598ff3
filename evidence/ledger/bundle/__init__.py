"""Evidence bundles (format ``evidence-bundle/v1``, docs/bundle.md): gather the pieces
from the ledger, intake and anchoring storage (:mod:`.export`) and write the ZIP
(:mod:`.writer`). Reading and checking a bundle is :mod:`evidence.verify.bundle`."""
