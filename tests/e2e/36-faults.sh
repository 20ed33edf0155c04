#!/bin/sh
# Faults on the ingest and assignment paths (docs/store.md "Faults"): FIONA_FAULT makes the Nth write,
# rename, syncfs, SQLite write or SQLite fsync fail with ENOSPC or EIO. For each point and
# a few N, during `fiona import`, `fiona assign` and C-STORE into `fiona serve`: every instance that
# was acknowledged (import said so / storescu got success) is in the catalog and its
# object is whole; nothing unacknowledged is half-visible (no catalog row without its
# whole object); the catalog passes PRAGMA integrity_check; the daemon keeps serving (the
# instances sent after a one-time fault are acknowledged) and an import reports the
# failing file and exits 1.
. "$(dirname "$0")/lib/orthanc.sh" # netns_reexec
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init faults
# its db- points are SQLite's VFS and its checks read catalog.db; PostgreSQL's faults are
# tests/scaleout's (the server stopped under load)
[ -z "${FIONA_E2E_PG:-}" ] || { echo "SKIP faults: SQLite's fault points (not under test-pg)"; exit 0; }
command -v storescu >/dev/null && command -v sqlite3 >/dev/null ||
	{ echo "SKIP faults: storescu or sqlite3 missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP faults: needs /dev/fuse and root"; exit 0; }
fiona_setup "$T" 5 || { fail generate "gen_corpus failed"; exit 1; }
cp "$T/fiona.json" "$T/fiona.base.json"
ls "$T"/c/P01/*/*/*.dcm | head -n 8 >"$T/files"
sop() { dcmdump -q +P 0008,0018 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p'; }
while read -r f; do echo "$(sop "$f") $f"; done <"$T/files" >"$T/sops"

# check RUN: acknowledged SOP UIDs in $T/acked; the catalog and objects of $T/var.
check() {
	db=$T/var/catalog.db
	ok=1
	[ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || { ok=0; why="integrity_check failed"; }
	while read -r u; do
		h=$(sqlite3 "$db" "SELECT hash FROM instances WHERE sop_uid='$u'")
		[ -n "$h" ] || { ok=0; why="acknowledged $u not in the catalog"; break; }
	done <"$T/acked"
	for row in $(sqlite3 -separator ' ' "$db" "SELECT hash || ':' || size FROM instances"); do
		h=${row%%:*}; sz=${row##*:}
		o=$T/var/objects/$(echo "$h" | cut -c1-2)/$h.dcm
		[ -f "$o" ] && [ "$(stat -c %s "$o")" = "$sz" ] && dcmdump -q "$o" >/dev/null 2>&1 ||
			{ ok=0; why="catalog row $h without its whole object"; break; }
	done
	[ $ok = 1 ] && pass "$1" || fail "$1" "$why"
}
fresh() { rm -rf "$T/var" "$T/mnt"; mkdir -p "$T/var"; (umask 077; head -c 32 /dev/urandom >"$T/var/secret"); }

# fiona import: the failing file is named, exit 1; the others are in.
for spec in obj-write:3:ENOSPC obj-rename:2:EIO syncfs:4:EIO db-write:6:ENOSPC db-sync:3:EIO db-write:5+:ENOSPC; do
	fresh
	FIONA_FAULT=$spec "$FIONA" import -c "$T/fiona.json" $(cat "$T/files") >"$T/imp.out" 2>"$T/imp.err"
	rc=$?
	while read -r u f; do grep -qF "$f" "$T/imp.err" || echo "$u"; done <"$T/sops" >"$T/acked"
	if [ $rc -eq 0 ] && ! grep -q "cannot" "$T/imp.err"; then
		fail "import $spec" "no failure reported (rc 0)"
	else
		check "import $spec: the failing file named, exit $rc, $(wc -l <"$T/acked") others in, catalog whole"
	fi
done

# fiona assign: a failing catalog write or fsync refuses the assignment whole (exit 1,
# the reason said): the study stays in quarantine with nothing queued; then it works.
for spec in db-write:1:ENOSPC db-write:3:EIO db-sync:1:EIO; do
	fresh
	"$FIONA" import -c "$T/fiona.json" $(cat "$T/files") >/dev/null 2>&1
	st=$(fiona_sql "$T" "SELECT min(id) FROM studies")
	FIONA_FAULT=$spec "$FIONA" assign -c "$T/fiona.json" "$st" PROJ01 PROJ01-0001 baseline 2>"$T/as.err"
	rc=$?
	n=$(fiona_sql "$T" "SELECT (SELECT count(*) FROM assignments) + (SELECT count(*) FROM transfers)")
	"$FIONA" assign -c "$T/fiona.json" "$st" PROJ01 PROJ01-0001 baseline 2>/dev/null
	m=$(fiona_sql "$T" "SELECT count(*) FROM assignments")
	cp /dev/null "$T/acked"
	why=$(grep -v " fault: " "$T/as.err" | tail -n 1)
	if [ $rc -ne 0 ] && [ -n "$why" ] && [ "$n" = 0 ] && [ "$m" = 1 ]; then
		check "assign $spec: refused whole ($why), then assigned"
	else
		fail "assign $spec" "rc=$rc, $n rows after the failure, $m assignments after the retry"
	fi
done

# C-STORE into fiona serve: one storescu per file, success = acknowledged.
for spec in obj-rename:2:EIO syncfs:3:EIO db-write:4:ENOSPC db-sync:5:EIO; do
	fresh
	# a first start without faults makes what every start of a new catalog writes once
	# (the projects' review files), so the counted writes are the receiver's
	fiona_start "$T"
	i=0; while [ "$(fiona_sql "$T" 'SELECT count(*) FROM review_text' 2>/dev/null)" != 1 ] &&
		[ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
	fusermount3 -uz "$M" 2>/dev/null
	export FIONA_FAULT=$spec
	fiona_start "$T"
	unset FIONA_FAULT
	: >"$T/acked"; nack=0
	while read -r u f; do
		if storescu -aet SENDER -aec FIONA 127.0.0.1 11112 "$f" 2>/dev/null; then echo "$u" >>"$T/acked"
		else nack=$((nack + 1)); fi
	done <"$T/sops"
	alive=0; kill -0 "$PID" 2>/dev/null && alive=1
	kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
	fusermount3 -uz "$M" 2>/dev/null
	if [ $alive = 1 ] && [ $nack -ge 1 ] && [ "$(wc -l <"$T/acked")" -ge 6 ]; then
		check "C-STORE $spec: $nack refused, $(wc -l <"$T/acked") acknowledged and kept, daemon kept serving"
	else
		fail "C-STORE $spec" "alive=$alive, $nack refused, $(wc -l <"$T/acked") acknowledged ($(grep fault "$T/serve.log" | tail -n 1))"
	fi
	rm -f "$T/serve.log"
done
exit $failed
