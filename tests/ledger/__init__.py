"""Tests of evidence/ledger/: the log, its database, audit, anchors, backups."""
