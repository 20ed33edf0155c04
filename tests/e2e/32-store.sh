#!/bin/sh
# The receiver's promises with the catalog: a calling AE not on the allow-list is refused
# at association time (the daemon's own heartbeat is not); with data_dir on a full
# filesystem the sender gets a failure status, nothing already stored is damaged, and
# receiving works again once space is free; above the disk watermark housekeeping removes
# expired quarantine data but never data waiting for its destination. Runs in its own
# network namespace.
. "$(dirname "$0")/lib/orthanc.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
FIONA=$(pwd)/$BUILD/fiona
GEN=$(pwd)/$BUILD/tools/gen_corpus
T=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	umount "$T/small" 2>/dev/null
	[ -n "$KEEP" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
pass() { echo "PASS store/$1"; }
fail() { echo "FAIL store/$1: $2"; failed=1; }
command -v storescu >/dev/null || { echo "SKIP store: storescu missing"; exit 0; }
export TCP_NODELAY=1
"$GEN" --preset tiny --seed 9 -o "$T/c" >/dev/null 2>&1 || { fail generate "gen_corpus failed"; exit 1; }
awk -F"\t" -v d="$T/c" '$3 == "1.2.840.10008.1.2.1" { print d "/" $1 }' "$T/c/index.tsv" | sort >"$T/files"

config() { # data_dir allowed_callers [watermark]
	cat >"$T/fiona.json" <<JSON
{ "data_dir": "$1", "mount_point": "$T/mnt", "secret_file": "$T/secret", "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": $2 },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": ${3:-0.99},
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 1 } },
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline" ], "destination": "research" } } }
JSON
}
start() {
	: >"$T/serve.log"
	"$FIONA" serve -c "$T/fiona.json" 2>"$T/serve.log" &
	PID=$!
	i=0; while ! grep -q "C-STORE SCP" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; fusermount3 -uz "$T/mnt" 2>/dev/null; }
instances() { "$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n 's/.*"instances": \([0-9]*\).*/\1/p'; }

# Allow-list: MODALITY1 from 127.0.0.1 only.
config "$T/var" '[ { "aet": "MODALITY1", "host": "127.0.0.1" } ]'
start
f=$(head -n 1 "$T/files")
if storescu -aet INTRUDER -aec FIONA 127.0.0.1 11112 "$f" 2>"$T/su.err"; then
	fail allow-list "an unknown calling AE was accepted"
elif grep -qi "reject" "$T/su.err"; then pass "allow-list refuses an unknown calling AE"
else fail allow-list "$(tail -n 1 "$T/su.err")"; fi
storescu -aet MODALITY1 -aec FIONA 127.0.0.1 11112 "$f" 2>/dev/null && [ "$(instances)" = 1 ] &&
	pass "allow-list accepts MODALITY1" || fail allow-list-ok "MODALITY1 refused"
sleep 2
hb=$("$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n 's/.*"last_heartbeat": "\([^"]*\)".*/\1/p')
case $hb in 20*) pass "heartbeat (own C-ECHO at $hb)" ;; *) fail heartbeat "last heartbeat: $hb" ;; esac
stop

# Full disk: data_dir on a small tmpfs.
mkdir -p "$T/small"
if ! mount -t tmpfs -o size=6m tmpfs "$T/small" 2>/dev/null; then
	echo "SKIP store/full-disk: cannot mount a tmpfs here"
	exit $failed
fi
config "$T/small/var" '[]'
start
# -v: storescu reports a refused store at info level only (and halts there)
xargs storescu -v -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/files" >"$T/full.log" 2>&1
grep -q "OutOfResources\|Out of Resources\|0xa700\|A700" "$T/full.log" &&
	pass "full disk: the sender gets a failure status" ||
	fail full-disk "storescu saw no failure ($(grep -v CP-246 "$T/full.log" | tail -n 1))"
kept=$(instances)
bad=0
for o in $(find "$T/small/var/objects" -name '*.dcm'); do
	dcmdump -q "$o" >/dev/null 2>&1 || bad=$((bad + 1))
done
nobj=$(find "$T/small/var/objects" -name '*.dcm' | wc -l)
[ "$kept" -gt 0 ] && [ "$bad" -eq 0 ] && [ "$nobj" -eq "$kept" ] &&
	pass "full disk: $kept stored instances intact, catalog and objects agree" ||
	fail full-disk-intact "kept $kept, objects $nobj, damaged $bad"
stop
# Free space (a bigger filesystem under the same data) and receive again.
mount -o remount,size=64m "$T/small"
start
xargs storescu -aet MODALITY1 -aec FIONA 127.0.0.1 11112 <"$T/files" 2>/dev/null
n=$(wc -l <"$T/files")
[ "$(instances)" = "$n" ] && pass "receiving works again once space is free" ||
	fail full-disk-recover "$(instances) of $n instances"
stop

# Housekeeping: watermark far below the current use; every study is past its quarantine
# days except that one is assigned and its destination is down (it waits: never removed).
sqlite3 "$T/small/var/catalog.db" "UPDATE studies SET last_arrival = last_arrival - 8 * 86400, complete = 1"
keep=$(sqlite3 "$T/small/var/catalog.db" "SELECT min(id) FROM studies")
"$FIONA" assign -c "$T/fiona.json" "$keep" PROJ01 PROJ01-0001 baseline 2>/dev/null
want=$(sqlite3 "$T/small/var/catalog.db" "SELECT count(*) FROM instances i JOIN series r ON i.series=r.id WHERE r.study=$keep")
config "$T/small/var" '[]' 0.001
start
i=0; while ! grep -q "nothing may be removed" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
stop
left=$(instances); nobj=$(find "$T/small/var/objects" -name '*.dcm' | wc -l)
removed=$(sqlite3 "$T/small/var/catalog.db" "SELECT count(*) FROM audit WHERE action='housekeeping'")
if [ "$left" = "$want" ] && [ "$nobj" = "$want" ] && [ "$removed" -gt 0 ] && grep -q "removed study" "$T/serve.log"; then
	pass "housekeeping removes $removed expired quarantine studies, keeps the one waiting"
else fail housekeeping "instances $left (want $want), objects $nobj, removed $removed"; fi
exit $failed
