"""One router per resource: meta (health, status, me), log, evidence, grants."""
