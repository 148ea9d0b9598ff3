"""Tests of evidence/ledger/bundle/: exported bundles and court reports."""
