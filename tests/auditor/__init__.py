"""Tests of the auditors' stand-alone scripts: scripts/verify_bundle.py, audit_ledger.py and
monitor_log.py."""
