#!/bin/sh
# The container's entrypoint (deploy/Dockerfile), also usable on a host: run one role of the
# evidence service, creating what a first start needs and never replacing what exists.
#
#   entrypoint.sh init      create the ledger (data dir, config, log key, database) if absent
#   entrypoint.sh serve     init if absent, then `evidence serve` (the HTTP API)
#   entrypoint.sh anchor    register the witness if told to, then `evidence anchor --loop`
#   entrypoint.sh witness   create the witness key if absent, follow the log, then
#                           `evidence witness serve`
#   entrypoint.sh health    the container's healthcheck for the role this container runs
#   entrypoint.sh CMD ...   anything else: `evidence CMD ...` (e.g. `user add`, `token create`)
#
# The role is the first argument, else $EVIDENCE_ROLE. The service's settings are its own
# (docs/operations.md, "Configuration"): the TOML file named by EVIDENCE_CONFIG and the
# variables EVIDENCE_<SECTION>_<KEY> (EVIDENCE_SERVE_PORT, EVIDENCE_ANCHORING_IN_SERVER, ...),
# with EVIDENCE_DATA_DIR, EVIDENCE_DB_URL, EVIDENCE_BLOB_STORE, EVIDENCE_S3_ENDPOINT and
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; they pass through untouched, and this script
# adds no flag to `evidence serve` or `evidence anchor` (a flag would hide the file and the
# environment). This script's own variables: EVIDENCE_ROLE, EVIDENCE_ORIGIN and
# EVIDENCE_CHECKPOINT_INTERVAL (the first start), EVIDENCE_PUBLIC_DIR, EVIDENCE_WITNESS_*,
# EVIDENCE_ANCHOR_WITNESS_* (below), EVIDENCE_BIN, EVIDENCE_PYTHON, EVIDENCE_RUN_DIR,
# EVIDENCE_WAIT_SECONDS.
#
# Never overwriting: `evidence init` and `evidence witness init` refuse to replace a key,
# config or database; this script calls them only when the key is absent, under a lock on
# the data directory, so two nodes starting at once on one shared volume make one ledger.
# A published verifier key that differs from the one on disk stops the start: a new key
# behind an old published one is exactly what witnesses and courts must never be shown.
set -eu
umask 077  # keys, config and the SQLite database: the service's user only

EVIDENCE_BIN=${EVIDENCE_BIN:-evidence}
# the systematic name wins over the older one, as in `evidence serve`
DATA_DIR=${EVIDENCE_LEDGER_DATA_DIR:-${EVIDENCE_DATA_DIR:-/var/lib/evidence/log}}
WITNESS_DIR=${EVIDENCE_WITNESS_DIR:-/var/lib/evidence/witness}
PUBLIC_DIR=${EVIDENCE_PUBLIC_DIR:-}          # where verifier keys are published (optional)
RUN_DIR=${EVIDENCE_RUN_DIR:-/tmp}            # the role, for the healthcheck
WAIT_S=${EVIDENCE_WAIT_SECONDS:-120}         # how long to wait for a published key
export EVIDENCE_DATA_DIR="$DATA_DIR"

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ev() { "$EVIDENCE_BIN" "$@"; }

# --- the ledger ------------------------------------------------------------------------------

init_ledger() {
    # under a lock: serve nodes and the anchoring process may share one data volume
    mkdir -p "$DATA_DIR"
    exec 9>"$DATA_DIR/.entrypoint.lock"
    flock -w "$WAIT_S" 9 || die "could not lock $DATA_DIR/.entrypoint.lock in ${WAIT_S}s"
    if [ -e "$DATA_DIR/config.json" ]; then
        log "ledger present in $DATA_DIR: not initialising"
    else
        [ -n "${EVIDENCE_ORIGIN:-}" ] || die "no ledger in $DATA_DIR and EVIDENCE_ORIGIN unset: \
set it to the log's origin (e.g. evidence.example.org/log) for the first start"
        log "creating the ledger $EVIDENCE_ORIGIN in $DATA_DIR"
        set -- --origin "$EVIDENCE_ORIGIN"
        if [ -n "${EVIDENCE_CHECKPOINT_INTERVAL:-}" ]; then
            set -- "$@" --checkpoint-interval "$EVIDENCE_CHECKPOINT_INTERVAL"
        fi
        ev init "$@" >/dev/null
    fi
    publish_key "$(ev log key)" log.vkey
    flock -u 9
    exec 9>&-
}

publish_key() {
    # publish_key VKEY FILE: write PUBLIC_DIR/FILE once; a different key already there stops us
    [ -n "$PUBLIC_DIR" ] || return 0
    (umask 022 && mkdir -p "$PUBLIC_DIR")  # public: whoever follows the log reads it
    target="$PUBLIC_DIR/$2"
    if [ -e "$target" ]; then
        [ "$(cat "$target")" = "$1" ] || die "$target holds another key than this one ($1): \
refusing to start (was the data volume replaced?)"
        return 0
    fi
    (umask 022 && printf '%s\n' "$1" >"$target.tmp.$$")
    mv "$target.tmp.$$" "$target"
    log "published $target"
}

wait_for_file() {
    # wait_for_file PATH: a key published by another container that may still be starting
    waited=0
    while [ ! -s "$1" ]; do
        [ "$waited" -lt "$WAIT_S" ] || die "$1 did not appear within ${WAIT_S}s"
        sleep 1
        waited=$((waited + 1))
    done
}

# --- roles ----------------------------------------------------------------------------------

role_serve() {
    init_ledger
    exec "$EVIDENCE_BIN" serve "$@"
}

role_anchor() {
    init_ledger
    url=${EVIDENCE_ANCHOR_WITNESS_URL:-}
    if [ -n "$url" ]; then
        name=${EVIDENCE_ANCHOR_WITNESS_NAME:-witness}
        key=${EVIDENCE_ANCHOR_WITNESS_KEY:-}
        if [ -z "$key" ]; then
            [ -n "$PUBLIC_DIR" ] || die "EVIDENCE_ANCHOR_WITNESS_URL set without \
EVIDENCE_ANCHOR_WITNESS_KEY or EVIDENCE_PUBLIC_DIR (where the witness publishes its key)"
            wait_for_file "$PUBLIC_DIR/witness.vkey"
            key=$(cat "$PUBLIC_DIR/witness.vkey")
        fi
        if ev anchor list --json | grep -qF "\"name\":\"$name\""; then
            log "witness $name already configured in anchors.json: left as it is"
        else
            ev anchor witness add "$name" "$url" --key "$key" >&2
        fi
    fi
    # the interval: [anchoring] interval (EVIDENCE_ANCHORING_INTERVAL), else anchors.json's
    exec "$EVIDENCE_BIN" anchor --loop "$@"
}

role_witness() {
    if [ ! -e "$WITNESS_DIR/witness.key" ]; then
        [ -n "${EVIDENCE_WITNESS_NAME:-}" ] || die "no witness in $WITNESS_DIR and \
EVIDENCE_WITNESS_NAME unset: set it to the witness's key name (e.g. witness.example.org/w1)"
        log "creating the witness $EVIDENCE_WITNESS_NAME in $WITNESS_DIR"
        ev witness init --dir "$WITNESS_DIR" --name "$EVIDENCE_WITNESS_NAME" >/dev/null
    fi
    wkey=$(ev witness info --dir "$WITNESS_DIR" | head -n 1)
    publish_key "$wkey" witness.vkey
    # the log to follow: its verifier key, given or published; its origin is the key's name
    lkey=${EVIDENCE_WITNESS_LOG_KEY:-}
    if [ -z "$lkey" ] && [ -n "$PUBLIC_DIR" ]; then
        wait_for_file "$PUBLIC_DIR/log.vkey"
        lkey=$(cat "$PUBLIC_DIR/log.vkey")
    fi
    if [ -n "$lkey" ]; then
        origin=${lkey%%+*}
        if ev witness info --dir "$WITNESS_DIR" --json | grep -qF "\"origin\":\"$origin\""; then
            log "already following $origin"
        else
            ev witness add-log --dir "$WITNESS_DIR" --origin "$origin" --key "$lkey" >&2
        fi
    else
        log "no log to follow (EVIDENCE_WITNESS_LOG_KEY unset): serving the logs already followed"
    fi
    exec "$EVIDENCE_BIN" witness serve --dir "$WITNESS_DIR" \
        --host "${EVIDENCE_WITNESS_HOST:-127.0.0.1}" --port "${EVIDENCE_WITNESS_PORT:-7380}" "$@"
}

role_health() {
    role=${EVIDENCE_ROLE:-$(cat "$RUN_DIR/evidence-role" 2>/dev/null || true)}
    case "$role" in
        serve) url="http://127.0.0.1:${EVIDENCE_SERVE_PORT:-8080}/health" ;;
        witness) url="http://127.0.0.1:${EVIDENCE_WITNESS_PORT:-7380}/info" ;;
        anchor) exec "$EVIDENCE_BIN" status >/dev/null ;;  # the ledger opens, the DB answers
        *) die "health: unknown role '${role}'" ;;
    esac
    exec "${EVIDENCE_PYTHON:-python3}" -c 'import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except OSError as e:  # refused, timed out, an HTTP error status
    sys.exit(f"unhealthy: {sys.argv[1]}: {e}")' "$url"
}

# --- dispatch -------------------------------------------------------------------------------

if [ "$#" -gt 0 ]; then
    role=$1
    shift
else
    role=${EVIDENCE_ROLE:-}
fi
case "$role" in
    init | serve | anchor | witness)
        # the healthcheck runs in a new process of the same container: it reads the role here
        printf '%s\n' "$role" >"$RUN_DIR/evidence-role" 2>/dev/null || true ;;
esac
case "$role" in
    init) init_ledger ;;
    serve) role_serve "$@" ;;
    anchor) role_anchor "$@" ;;
    witness) role_witness "$@" ;;
    health) role_health ;;
    "") die "no role: give one of init, serve, anchor, witness, health (or EVIDENCE_ROLE), \
or an evidence command" ;;
    *) exec "$EVIDENCE_BIN" "$role" "$@" ;;
esac
