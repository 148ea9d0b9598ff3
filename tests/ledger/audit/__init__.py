"""Tests of the ledger's audit (evidence/ledger/audit/: log_audit.py, spans.py, files.py)."""
