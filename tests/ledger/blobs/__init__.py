"""Tests of evidence/ledger/blobs/: the blob-store contract on every driver."""
