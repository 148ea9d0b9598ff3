"""evidence.ledger.anchor: tying checkpoints to the outside world (RFC 3161 TSAs, witnesses)."""
