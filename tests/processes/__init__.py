"""Crash, kill and several-process tests (the slow lane)."""
