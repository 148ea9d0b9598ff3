"""The ``evidence`` command: one entry point for every user."""
