"""Tests of evidence/witness/."""
