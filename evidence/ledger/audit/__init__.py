"""The auditor's room: the ledger checking itself, and the files it hands to auditors.

* :mod:`.log_audit`  ``evidence audit``: every entry, node and checkpoint recomputed from
  the stored entries and compared with what is stored, naming the first ``seq`` where
  they part (the reference checks of :mod:`evidence.verify.log`);
* :mod:`.spans`      the quick pass over one span that :mod:`.log_audit` runs first; it
  only says clean or not clean, and a span that is not clean is re-checked by the
  reference, so it can change the audit's speed, never its verdict;
* :mod:`.files`      the file pass: every stored file re-hashed against its entry;
* :mod:`.export_log` ``evidence log export``: the whole log as plain files, for auditors
  who verify offline with ``scripts/audit_ledger.py`` (docs/formats.md, "Log export").

Nothing is imported here: import the module you need.
"""
