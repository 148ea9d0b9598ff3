"""The judges' verification page in real Chromium (the slow lane)."""
