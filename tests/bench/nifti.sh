#!/bin/sh
# NIfTI exports (issue 15), run by tests/bench/run.sh inside a network namespace. Usage:
# nifti.sh CORPUS. The first BENCH_NIFTI_PATIENTS (default 1) patient folders of the corpus
# are imported; `fiona serve` starts; every study is moved into one event with mv; the time
# until the event's .status says every series is converted (de-identified headers, CRCs,
# the de-identified files written out, dcm2niix, outputs kept) is printed next to dcm2niix
# run by hand, with the same options, on a copy of the same de-identified series folders
# (the copy is made before the clock starts).
set -u
CORPUS=$1
BUILD=${BUILD:-build}
FIONA=$(pwd)/$BUILD/fiona
NP=${BENCH_NIFTI_PATIENTS:-1}
OPTS="-b y -ba y -z i -f %f -d 0" # fs/fs_int.h FS_NIFTI_OPTIONS
T=$(mktemp -d)
chmod 755 "$T"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$T/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { echo "$2 $1" | awk '{printf "%.3f", $1 - $2}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }'; }

echo "== NIfTI (mv -> nifti/ ready vs dcm2niix by hand on the same de-identified files)"
command -v dcm2niix >/dev/null || { echo "dcm2niix missing (make deps): skipped"; exit 0; }
cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$T/mnt", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "projects": { "BENCH1": { "group": "root", "participant_pattern": "^BENCH1-[0-9]{4}\$",
                            "events": [ "baseline" ] } } }
JSON
mkdir -p "$T/var" && (umask 077; head -c 32 /dev/urandom >"$T/var/secret")
set -- $(ls -d "$CORPUS"/P* | head -n "$NP")
"$FIONA" import -c "$T/fiona.json" "$@" >/dev/null 2>"$T/import.log" || { tail -n 1 "$T/import.log"; exit 1; }
nst=$(sqlite3 "$T/var/catalog.db" "SELECT count(*) FROM studies")
"$FIONA" serve -c "$T/fiona.json" 2>"$T/serve.log" &
PID=$!
i=0; while ! grep -q "mounted at" "$T/serve.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
Q=$T/mnt/quarantine; E=$T/mnt/export/BENCH1/BENCH1-0001/baseline
i=0; while [ "$(ls "$Q" | wc -l)" -lt "$nst" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
mkdir "$T/mnt/projects/BENCH1/BENCH1-0001" || exit 1
ready() { grep -q "^nifti/: \([1-9][0-9]*\) of \1 series converted; 0 waiting" "$E/.status" 2>/dev/null ||
	grep -q "^nifti/: [0-9]* of [0-9]* series converted; 0 waiting; [1-9]" "$E/.status" 2>/dev/null; }
s=$(now)
for d in $(ls "$Q"); do mv "$Q/$d" "$T/mnt/projects/BENCH1/BENCH1-0001/baseline" || exit 1; done
i=0; while ! ready && [ $i -lt 36000 ]; do sleep 0.05; i=$((i + 1)); done
e=$(now); f=$(secs "$s" "$e")
ready || { echo "NIfTI not ready after 30 min: $(grep '^nifti/' "$E/.status")"; exit 1; }
st=$(grep '^nifti/' "$E/.status")
nfiles=$(find "$E" -name '*.dcm' | wc -l); mb=$(du -sm --apparent-size "$E" | cut -f1)
nout=$(ls "$E/nifti" | wc -l)
mkdir -p "$T/copy" "$T/hand"
for d in "$E"/*/*/; do case "$d" in */nifti/*) ;; *) cp -r "$d" "$T/copy/" ;; esac; done
sync
s=$(now)
for d in "$T/copy"/*/; do
	n=$(basename "$d"); mkdir -p "$T/hand/$n"
	# shellcheck disable=SC2086
	HOME=$T/hand dcm2niix $OPTS -o "$T/hand/$n" "$d" >/dev/null 2>&1
done
e=$(now); h=$(secs "$s" "$e")
nh=$(find "$T/hand" -type f | wc -l)
echo "NIfTI of $nst studies ($nfiles files, $mb MB; $st): mv -> ready ${f}s, $nout files;" \
	"dcm2niix by hand ${h}s, $nh files: ratio $(ratio "$f" "$h")"
