"""A witness: cosigns checkpoints of logs it follows, refusing forks and rollbacks."""
