"""Tests of evidence/verify/: the trust core's rules."""
