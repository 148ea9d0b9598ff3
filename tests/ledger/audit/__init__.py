"""Tests of the ledger's audit (evidence/ledger/audit.py, audit_scan.py, audit_files.py)."""
