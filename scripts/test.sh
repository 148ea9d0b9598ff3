#!/usr/bin/env bash
# The project's test command: lint, layer contracts, then the test suite.
# Creates .venv on first use. Extra arguments go to pytest (e.g. -k merkle, -x).
#
# --quick: the inner loop, under a minute on two cores. The fast tests of tests/verify,
# witness, ledger and equivalence and the docs' checks (not marked slow, pg, s3 or tsa), on
# SQLite and files: no PostgreSQL, S3 or TSA server, no browser, no worker pool, no
# stand-alone interpreter, no served API; and no reinstall once .venv can import the
# package. Without it: the whole suite, which is what .ci/run runs; on two cores with
# pytest-xdist, in two processes but for the slow lane (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
if [ "$quick" = 0 ] || ! .venv/bin/python -c "import evidence, pytest" 2>/dev/null; then
  .venv/bin/pip install -q -e '.[dev]'
fi
echo "== ruff"; .venv/bin/ruff check .
echo "== import-linter"; .venv/bin/lint-imports
if [ "$quick" = 1 ]; then
  echo "== pytest (quick)"
  # Two processes when the machine has two cores: the quick lane starts no servers, so
  # nothing is shared between them but the files under tmp_path (one per test).
  par=()
  if [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && .venv/bin/python -c "import xdist" 2>/dev/null; then
    par=(-n 2 --dist loadfile)
  fi
  exec .venv/bin/pytest "${par[@]}" -m "not slow and not pg and not s3 and not tsa" \
    tests/verify tests/witness tests/ledger tests/equivalence \
    tests/test_docs.py "$@"
fi
# The whole suite. Asked for nothing in particular, on two cores with xdist: everything
# but the slow lane in two processes (each module in one process; each process starts
# its own PostgreSQL, S3 and TSA servers on free ports, and every test writes under its
# own tmp_path), then the slow lane (processes killed mid-write, the browser, installs
# into test-artifacts/, timing bounds) in one process, as before. Any arguments: one
# pytest run with them, in one process unless they say otherwise.
if [ $# -eq 0 ] && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] \
    && .venv/bin/python -c "import xdist" 2>/dev/null; then
  echo "== pytest: all but the slow lane, two processes"
  rc=0
  .venv/bin/pytest -n 2 --dist loadfile -m "not slow" || rc=$?
  echo "== pytest: the slow lane, one process"
  .venv/bin/pytest -m slow || rc=$((rc ? rc : $?))
  exit "$rc"
fi
echo "== pytest"; exec .venv/bin/pytest "$@"
