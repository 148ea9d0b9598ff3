"""One router per resource: meta (health, status, me), log, evidence, grants, captures,
and the judges' verification page (verify_page)."""
