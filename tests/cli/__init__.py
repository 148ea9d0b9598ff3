"""Tests of evidence/cli/: the commands as people run them."""
