"""Shared fixtures. Real services (PostgreSQL, S3, TSA) live in tests/support/, one module each."""

pytest_plugins: list[str] = ["tests.support.pg", "tests.support.s3", "tests.support.tsa",
                               "tests.support.intake", "tests.support.ledgers"]
