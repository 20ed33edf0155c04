#!/bin/sh
# The catalog on PostgreSQL (issue 16): store/db_pg.c, db_sql.c and schema_pg.c, driven by
# build/tools/db_probe against the harness's PostgreSQL 15. The schema migrates (and a
# newer one is refused), binds of every type and their read-back, INSERT OR IGNORE / OR
# REPLACE through the translator, constraints, identity ids, change counts, rollback,
# notifications counted by data_version; then the server restarts under two connections
# (one inside a transaction): DB_IOERR, and a reconnect once the transaction is given up.
# Every SQL literal of store/*.c is PREPAREd on the migrated schema (INFO lines: what
# PostgreSQL refuses); timings are INFO lines, never checked.
. "$(dirname "$0")/lib.sh"
[ -x "$SO_PGBIN/initdb" ] && [ -x "$SO_PGBIN/pg_ctl" ] ||
	{ echo "SKIP db-pg: postgresql-15 not installed (make deps)"; exit 0; }
so_netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
PROBE=$(pwd)/$BUILD/tools/db_probe
[ -x "$PROBE" ] || { echo "FAIL db-pg/probe: $PROBE not built (make test-build)"; exit 1; }
T=$(mktemp -d)
export LC_ALL=C
failed=0
trap 'exec 3>&- 2>/dev/null; so_kill "$RPID"; so_stop_all; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
RPID=
pass() { echo "PASS db-pg/$1"; }
fail() { echo "FAIL db-pg/$1: $2"; failed=1; }

pg_start "$T" || { fail postgresql "the server did not start"; exit 1; }
echo "INFO db-pg: PostgreSQL initdb + start ${PG_SECONDS} s"
CI="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres connect_timeout=5"

"$PROBE" "$CI" basic >"$T/basic.out" 2>&1
cat "$T/basic.out"
grep -q '^FAIL' "$T/basic.out" && failed=1
grep -q 'PASS pg/a rolled back NOTIFY' "$T/basic.out" || fail basic "the probe stopped early: $(tail -n 2 "$T/basic.out")"

# every SQL literal of the store, as one line each (adjacent C literals joined; those
# with printf formats or cut short by a macro are left out)
awk '
	function flush() { if (sql ~ /^ *(SELECT|INSERT|UPDATE|DELETE|WITH)/ &&
	                       sql !~ /%/) print sql; sql = ""; open = 0 }
	{
		line = $0; rest = line
		if (line !~ /"/) { if (open && line !~ /^[ \t]*$/) flush(); next }
		while (match(rest, /"([^"\\]|\\.)*"/)) {
			pre = substr(rest, 1, RSTART - 1)
			if (open && pre !~ /^[ \t]*$/) flush()
			sql = sql substr(rest, RSTART + 1, RLENGTH - 2); open = 1
			rest = substr(rest, RSTART + RLENGTH)
		}
		if (open && rest !~ /^[ \t]*$/) flush()
	}
	END { flush() }' store/*.c | sed 's/\\"/"/g' | sort -u >"$T/sql.txt"
"$PROBE" "$CI" sweep "$T/sql.txt" >"$T/sweep.out" 2>&1
cat "$T/sweep.out"
grep -q 'statements' "$T/sweep.out" && pass "the store's statements were prepared on the schema" ||
	fail sweep "$(tail -n 1 "$T/sweep.out")"

"$PROBE" "$CI" timing 2000 | grep -v '^FAIL' || true

# restart under two connections
mkfifo "$T/go"
"$PROBE" "$CI" restart <"$T/go" >"$T/restart.out" 2>&1 &
RPID=$!
exec 3>"$T/go"
i=0
while ! grep -q READY "$T/restart.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
t0=$(so_now)
pg_restart && echo "INFO db-pg: PostgreSQL restart $(so_since "$t0") s" || fail restart "pg_ctl start failed"
echo go >&3
exec 3>&-
wait "$RPID"; rc=$?
RPID=
grep -v READY "$T/restart.out"
[ $rc -eq 0 ] || failed=1
grep -q 'PASS pg/then a reconnect' "$T/restart.out" || fail restart "the probe stopped early: $(tail -n 2 "$T/restart.out")"
exit $failed
