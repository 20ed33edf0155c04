#!/bin/sh
# make bench-crash (issue 13): kill -9 of `fiona serve` at random moments during a large
# C-STORE ingest with forwarding to Orthanc, ROUNDS times in a row (default 20). Each round
# assigns the studies that arrived so far (fiona assign), so sending, cataloging,
# preparing and forwarding all run when the kill comes. At the end fiona runs undisturbed until Orthanc holds every
# instance. Prints: instances storescu was told succeeded, how many of them the catalog
# lacks (target 0), instances Orthanc holds vs the catalog (target equal), and how many
# were sent more than once (target: at most the batches in flight at the kills).
# Runs inside a network namespace (Orthanc listens on all interfaces).
set -u
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-20}
. tests/e2e/lib/orthanc.sh
FIONA=$(pwd)/$BUILD/fiona
T=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	orthanc_stop
	fusermount3 -uz "$T/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 2 } },
  "projects": { "CRASH1": { "group": "root", "participant_pattern": "^CRASH1-[0-9]{4}\$",
                            "events": [ "baseline" ], "destination": "research" } } }
JSON
mkdir -p "$T/var" && (umask 077; head -c 32 /dev/urandom >"$T/var/secret")
"$BUILD/tools/gen_corpus" --preset small --seed 7 -o "$T/c" >/dev/null 2>&1 || exit 1
find "$T/c" -name '*.dcm' | sort >"$T/all"
total=$(wc -l <"$T/all")
echo "== crash: $ROUNDS kill -9 during ingest + forwarding ($total files, small corpus)"
orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || { echo "Orthanc did not start"; exit 1; }
start() {
	"$FIONA" serve -c "$T/fiona.json" 2>>"$T/serve.log" &
	PID=$!
	i=0; while ! grep -q "C-STORE SCP" "$T/serve.log" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
assign_arrived() {
	for id in $(sqlite3 "$T/var/catalog.db" "SELECT id FROM studies WHERE complete=1 AND id NOT IN
		(SELECT study FROM assignments)" 2>/dev/null); do
		"$FIONA" assign -c "$T/fiona.json" "$id" CRASH1 "CRASH1-$(printf %04d "$id")" baseline 2>/dev/null
	done
}
: >"$T/acked"
per=$(( (total + ROUNDS - 1) / ROUNDS * 2 ))
r=0
while [ $r -lt "$ROUNDS" ]; do
	: >"$T/serve.log"
	start
	assign_arrived
	# a slice of the corpus (each file sent twice over the run: re-sends after the kills)
	off=$(( (r * total / ROUNDS) + 1 ))
	sed -n "${off},$((off + per - 1))p" "$T/all" >"$T/slice"
	storescu -v -xr -aet SENDER -aec FIONA 127.0.0.1 11112 $(cat "$T/slice") >"$T/su.log" 2>&1 &
	su=$!
	sleep "$(awk -v s="$r" 'BEGIN { srand(s + 1); printf "%.2f", 0.3 + rand() * 2.5 }')"
	kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
	wait "$su" 2>/dev/null
	# a file counts as acknowledged when storescu logged success right after sending it
	awk '/Sending file:/ { f = $NF } /Received Store Response \(Success\)/ && f { print f; f = "" }' \
		"$T/su.log" >>"$T/acked"
	fusermount3 -uz "$T/mnt" 2>/dev/null
	r=$((r + 1))
done
sort -u "$T/acked" -o "$T/acked"
: >"$T/serve.log"
start
sleep 3 # the last studies' quiet time
assign_arrived
db=$T/var/catalog.db
lost=0
while read -r f; do
	u=$(dcmdump -q +P 0008,0018 "$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p')
	[ -n "$(sqlite3 "$db" "SELECT 1 FROM instances WHERE sop_uid='$u'")" ] || lost=$((lost + 1))
done <"$T/acked"
# every instance cataloged reaches Orthanc (the last studies wait for their quiet time)
want=$(sqlite3 "$db" "SELECT count(*) FROM instances")
i=0
while [ "$(curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p')" != "$want" ] &&
	[ $i -lt 1200 ]; do sleep 0.5; i=$((i + 1)); done
have=$(curl -sf "$ORTHANC_URL/statistics" | sed -n 's/.*"CountInstances" *: *\([0-9]*\).*/\1/p')
twice=$(sqlite3 "$db" "SELECT count(*) FROM transfers WHERE attempts > 1")
echo "acknowledged $(wc -l <"$T/acked") instances; lost $lost (target 0)"
echo "catalog $want instances; Orthanc holds $have (target: equal)"
echo "sent more than once: $twice (after $ROUNDS kills; target: at most the batches in flight)"
echo "integrity_check: $(sqlite3 "$db" 'PRAGMA integrity_check')"
