"""Tests of evidence/ledger/intake/: submissions, bulk import, metadata."""
