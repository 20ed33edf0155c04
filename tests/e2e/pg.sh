#!/bin/sh
# make test-pg: the end-to-end tests that start a whole gateway through lib/fiona.sh, with
# the catalog on a private PostgreSQL 15 (initdb + pg_ctl in a temporary directory, on
# loopback) instead of SQLite: the same code above store/db runs on both engines. Each
# test gets its own database. Tests that read catalog.db with sqlite3 themselves, or
# write their own configuration, run on SQLite as in `make test`.
set -u
cd "$(dirname "$0")/../.."
. tests/scaleout/lib.sh
[ -x "$SO_PGBIN/initdb" ] && command -v psql >/dev/null || { echo "SKIP test-pg: postgresql-15 is not installed (make deps)"; exit 0; }
D=$(mktemp -d)
trap 'pg_stop; rm -rf "$D"' EXIT
pg_start "$D" || exit 1
export FIONA_E2E_PG="host=$PG_SOCK port=$PG_PORT user=postgres" # a socket: tests run in their own network namespace
# the tests that start their gateway through lib/fiona.sh's fiona_setup
all=$(grep -l 'fiona_setup ' tests/e2e/[0-9]*.sh | xargs -n1 basename | tr '\n' ' ')
BUILD=${BUILD:-build} TESTS=e2e E2E=${E2E:-$all} sh tests/run.sh
