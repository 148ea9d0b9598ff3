"""Every "fast == reference" test: each speed path held to the reference it mirrors."""
