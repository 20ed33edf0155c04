#!/bin/sh
# Faults while forwarding and during housekeeping (docs/store.md "Faults"): `fiona serve`
# runs with FIONA_FAULT failing one catalog write or fsync of its own (taking transfers,
# recording outcomes, verification, arrival); Orthanc must still get every instance, the
# catalog must pass integrity_check and the daemon must keep running. Then, with every
# study verified and the disk "full" (disk_high_watermark 0.01), housekeeping removes the
# verified studies with a failing catalog write on the way: the failed removal is rolled
# back and done again, no row is left without its object, nothing unverified is removed.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init faults-forward
# SQLite's fault points; PostgreSQL's faults are tests/scaleout's
[ -z "${FIONA_E2E_PG:-}" ] || { echo "SKIP faults-forward: SQLite's fault points (not under test-pg)"; exit 0; }
[ -x "$ORTHANC_BIN" ] || { echo "SKIP faults-forward: Orthanc missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP faults-forward: needs /dev/fuse and root"; exit 0; }
fiona_setup "$T" 9 || { fail generate "gen_corpus failed"; exit 1; }
db=$T/var/catalog.db
in_orthanc() { curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p'; }
whole() { # every catalog row has its whole object
	for row in $(sqlite3 "$db" "SELECT hash || ':' || size FROM instances"); do
		o=$T/var/objects/$(echo "${row%%:*}" | cut -c1-2)/${row%%:*}.dcm
		[ -f "$o" ] && [ "$(stat -c %s "$o")" = "${row##*:}" ] || return 1
	done
	[ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ]
}
run=0
for spec in db-write:1:EIO db-write:3:ENOSPC db-sync:2:EIO db-write:6:EIO; do
	run=$((run + 1))
	rm -rf "$T/var/objects" "$T/var/catalog.db"* "$T/orthanc"
	"$FIONA" import -c "$T/fiona.json" "$T/c/P01" >/dev/null 2>&1
	for id in $(sqlite3 "$db" "SELECT id FROM studies"); do
		"$FIONA" assign -c "$T/fiona.json" "$id" PROJ01 "PROJ01-000$id" baseline 2>/dev/null
	done
	want=$(sqlite3 "$db" "SELECT count(*) FROM instances")
	orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || { fail orthanc "Orthanc did not start"; exit 1; }
	export FIONA_FAULT=$spec
	fiona_start "$T"
	unset FIONA_FAULT
	i=0; while [ "$(in_orthanc)" != "$want" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	alive=0; kill -0 "$PID" 2>/dev/null && alive=1
	got=$(in_orthanc)
	hits=$(grep -c ": injected " "$T/serve.log")
	if [ "$got" = "$want" ] && [ $alive = 1 ] && [ "$hits" -ge $run ] && whole; then
		pass "forwarding with $spec: Orthanc holds $got of $want, catalog whole, daemon running"
	else
		fail "forwarding with $spec" "Orthanc $got of $want, alive $alive, $hits faults injected so far"
	fi
	[ $run -lt 4 ] && { kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$M" 2>/dev/null; orthanc_stop; }
done

# Housekeeping: wait until verified, then restart with a full disk and a failing write.
i=0; while [ "$(sqlite3 "$db" "SELECT count(*) FROM transfers WHERE state<>'verified'")" != 0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$M" 2>/dev/null
"$FIONA" import -c "$T/fiona.json" "$T/c/P02" >/dev/null 2>&1 # unassigned, not expired: stays
before=$(sqlite3 "$db" "SELECT count(*) FROM studies")
sed -i 's/"disk_high_watermark": 0.95/"disk_high_watermark": 0.01/' "$T/fiona.json"
export FIONA_FAULT=db-write:2:EIO
fiona_start "$T"
unset FIONA_FAULT
i=0; while [ "$(sqlite3 "$db" "SELECT count(*) FROM assignments")" != 0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
left=$(sqlite3 "$db" "SELECT count(*) FROM assignments")
stays=$(sqlite3 "$db" "SELECT count(*) FROM studies")
alive=0; kill -0 "$PID" 2>/dev/null && alive=1
if [ "$left" = 0 ] && [ "$stays" -lt "$before" ] && [ "$stays" -gt 0 ] && [ $alive = 1 ] && whole &&
	grep -q " fault: db-write #2" "$T/serve.log"; then
	pass "housekeeping with a failing write: verified studies removed ($((before - stays))), the rest kept whole"
else
	fail housekeeping "$left verified studies left, $stays of $before studies, alive $alive ($(grep 'housekeeping\| fault: ' "$T/serve.log" | tail -n 2 | tr '\n' ' '))"
fi
exit $failed
