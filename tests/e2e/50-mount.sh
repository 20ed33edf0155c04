#!/bin/sh
# The mount on a real FUSE mount point: quarantine shows what arrived with its original
# bytes; mkdir/mv (GNU mv in both forms) assign, re-assign and un-assign; refusals are
# refused without mv falling back to copying; de-identified files have stat size == bytes
# read == what `fiona anonymize` writes for the same file; cp -r and tar of a project
# work; .coupling.csv takes rows; a user in no group sees nothing; reads are audited; a
# stale mount after kill -9 is cleaned at the next start.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
T=$(mktemp -d)
M=$T/mnt
chmod 755 "$T" # other users must reach the mount point
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$M" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS mount/$1"; }
fail() { echo "FAIL mount/$1: $2"; failed=1; }
[ -e /dev/fuse ] || { echo "SKIP mount: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP mount: allow_other needs root here"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP mount: fusermount3 missing"; exit 0; }

fiona_setup "$T" 5 || { fail generate "gen_corpus failed"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" "$T/c/P02" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
start() { fiona_start "$T"; fiona_wait_quarantine "$T" "$1"; }
start 6
Q=$M/quarantine; P=$M/projects/PROJ01
n=$(ls "$Q" 2>/dev/null | wc -l)
[ "$n" -eq 6 ] && pass "quarantine lists 6 studies" || fail quarantine "$n studies listed (serve log: $(tail -n 2 "$T/serve.log"))"

# Originals: the quarantine holds exactly the bytes of the corpus.
(cd "$Q" && find . -name '*.dcm' -exec cat {} + | cksum) >"$T/q.sum"
(cd "$T/c" && find P01 P02 -name '*.dcm' | sort | xargs cat | cksum) >/dev/null
a=$(cd "$Q" && find . -name '*.dcm' -exec cksum {} + | awk '{print $1, $2}' | sort)
b=$(cd "$T/c" && find P01 P02 -name '*.dcm' -exec cksum {} + | awk '{print $1, $2}' | sort)
[ "$a" = "$b" ] && pass "originals byte-identical" || fail originals "quarantine bytes differ from the corpus"
grep -q '"accession"' "$Q/$(ls "$Q" | head -n 1)/study.json" && pass study.json || fail study.json "missing"
cat "$Q"/*/study.json | grep -q '"labels": "MR,T1"' && pass "series labelled at arrival (study.json)" ||
	fail labels "no T1 label in any study.json"

# mkdir validates the participant ID.
if mkdir "$P/bad id" 2>/dev/null; then fail mkdir-refused "a bad participant ID was created"
else pass mkdir-refused; fi
grep -q "does not match" "$T/serve.log" && pass refusal-logged || fail refusal-logged "no reason in the log"
mkdir "$P/PROJ01-0001" && mkdir "$P/PROJ01-0002" && pass mkdir || fail mkdir "mkdir of valid IDs failed"

set -- $(ls "$Q")
S1=$1; S2=$2; S3=$3; S4=$4
# A wrong event: refused, and mv must not fall back to copying.
if mv "$Q/$S4" "$P/PROJ01-0001/nosuchevent" 2>"$T/mv.err"; then fail mv-refused "unknown event accepted"
elif [ -d "$Q/$S4" ] && [ ! -e "$P/PROJ01-0001/nosuchevent" ]; then pass "mv refused without copying"
else fail mv-refused "the study moved or was copied"; fi
mv "$Q/$S1" "$P/PROJ01-0001/baseline" && pass "mv (no slash) assigns" || fail mv-assign "$(cat "$T/mv.err")"
mv "$Q/$S2" "$P/PROJ01-0001/followup/" && pass "mv (trailing slash) assigns" || fail mv-slash "mv failed"
mv "$Q/$S3" "$P/PROJ01-0001/baseline" && pass "mv into an existing event" || fail mv-into "mv failed"
[ ! -e "$Q/$S1" ] && [ ! -e "$Q/$S2" ] && [ ! -e "$Q/$S3" ] && [ "$(ls "$Q" | wc -l)" -eq 3 ] &&
	pass "assigned studies leave quarantine" || fail leave-quarantine "$(ls "$Q" | wc -l) left"
# Files appear once de-identified; candidates for burned-in text (the dose pages) once
# their pixels are cleaned, which takes OCR a second or two each.
ready() { grep -q "files: \([0-9]*\) of \1 de-identified" "$1/.status"; }
i=0; while ! { ready "$P/PROJ01-0001/baseline" && ready "$P/PROJ01-0001/followup"; } &&
	[ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "instances: [0-9]* queued" "$P/PROJ01-0001/baseline/.status" &&
	grep -q "series: 1 " "$P/PROJ01-0001/baseline/.status" &&
	grep -q "files: \([0-9]*\) of \1 de-identified" "$P/PROJ01-0001/baseline/.status" &&
	pass ".status (counts, series labels, files de-identified)" ||
	fail .status "$(cat "$P/PROJ01-0001/baseline/.status")"

# Differential: stat size == bytes read == fiona anonymize of the original.
find "$P/PROJ01-0001" -name '*.dcm' | sort >"$T/pfiles"
bad=0
while read -r f; do
	[ "$(stat -c %s "$f")" -eq "$(wc -c <"$f")" ] || bad=$((bad + 1))
done <"$T/pfiles"
[ $bad -eq 0 ] && [ -s "$T/pfiles" ] && pass "stat size == bytes read ($(wc -l <"$T/pfiles") files)" ||
	fail stat-size "$bad files differ"
mkdir -p "$T/orig"
for s in "$S1" "$S2" "$S3"; do
	id=${s##*_}
	fiona_sql "$T" "SELECT i.hash, e.event FROM instances i JOIN series r ON i.series=r.id
		JOIN assignments e ON e.study=r.study WHERE r.study=$id" |
		while IFS='|' read -r h ev; do
			mkdir -p "$T/orig/$ev"; cp "$T/var/objects/$(echo "$h" | cut -c1-2)/$h.dcm" "$T/orig/$ev/"
		done
done
for ev in baseline followup; do
	"$FIONA" anonymize -o "$T/anon/$ev" --project PROJ01 --participant PROJ01-0001 --event "$ev" \
		--secret "$T/var/secret" "$T/orig/$ev" 2>>"$T/anon.log"
done
sop() { dcmdump -q +P 0008,0018 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p'; }
for f in $(find "$T/anon" -name '*.dcm'); do echo "$(sop "$f") $(cksum <"$f")"; done | sort >"$T/a.sums"
while read -r f; do echo "$(sop "$f") $(cksum <"$f")"; done <"$T/pfiles" | sort >"$T/m.sums"
if cmp -s "$T/a.sums" "$T/m.sums" && [ -s "$T/a.sums" ]; then pass "mount bytes == fiona anonymize"
else fail differential "$(comm -3 "$T/a.sums" "$T/m.sums" | wc -l) files differ"; fi

# Random pread offsets and lengths agree with the anonymize output too.
bad=0; k=0
for f in $(head -n 6 "$T/pfiles"); do
	a=$(find "$T/anon" -name '*.dcm' | while read -r g; do [ "$(sop "$g")" = "$(sop "$f")" ] && echo "$g"; done | head -n 1)
	size=$(stat -c %s "$f")
	for off in 0 1 127 $((size / 3)) $((size - 4097)) $((size - 1)); do
		[ "$off" -ge 0 ] || continue
		k=$((k + 1))
		x=$(dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count=4099 bs=65536 2>/dev/null | cksum)
		y=$(dd if="$a" iflag=skip_bytes,count_bytes skip="$off" count=4099 bs=65536 2>/dev/null | cksum)
		[ "$x" = "$y" ] || bad=$((bad + 1))
	done
done
[ $bad -eq 0 ] && [ $k -gt 0 ] && pass "random preads agree ($k reads)" || fail pread "$bad of $k reads differ"

# cp -r and tar of the project tree.
cp -r "$P" "$T/copy" && [ "$(find "$T/copy" -name '*.dcm' | wc -l)" -eq "$(wc -l <"$T/pfiles")" ] &&
	pass "cp -r" || fail cp "cp -r of the project failed"
n=$(tar -C "$M/projects" -cf - PROJ01 | tar -tf - | grep -c '\.dcm$')
[ "$n" -eq "$(wc -l <"$T/pfiles")" ] && pass tar || fail tar "$n files in the archive"
[ "$(find "$M/export/PROJ01" -name '*.dcm' | wc -l)" -eq "$(wc -l <"$T/pfiles")" ] && pass export ||
	fail export "export tree differs"

# Re-assignment and un-assignment.
mv "$P/PROJ01-0001/followup" "$P/PROJ01-0002/baseline" && [ -d "$P/PROJ01-0002/baseline" ] &&
	[ ! -e "$P/PROJ01-0001/followup" ] && pass re-assign || fail re-assign "mv between participants failed"
mv "$P/PROJ01-0002/baseline" "$Q/" && [ "$(ls "$Q" | wc -l)" -eq 4 ] && pass un-assign ||
	fail un-assign "$(ls "$Q" | wc -l) studies in quarantine"

# Everything else is refused.
f=$(head -n 1 "$T/pfiles")
rm -f "$f" 2>/dev/null; [ -e "$f" ] && pass rm-refused || fail rm-refused "a file was removed"
(echo x >"$f") 2>/dev/null && fail write-refused "a .dcm was written" || pass write-refused
chmod 777 "$f" 2>/dev/null && fail chmod-refused "chmod worked" || pass chmod-refused
touch "$P/PROJ01-0001/new" 2>/dev/null && fail create-refused "a file was created" || pass create-refused

# .coupling.csv: good rows kept, bad rows refused.
echo "A0000001,PROJ01-0001,baseline" >>"$P/.coupling.csv" && grep -q A0000001 "$P/.coupling.csv" &&
	pass coupling-row || fail coupling-row "$(cat "$P/.coupling.csv")"
if echo "A0000002,not an id,baseline" >>"$P/.coupling.csv" 2>/dev/null; then fail coupling-bad "bad row accepted"
else pass coupling-bad-row-refused; fi

# Who sees what: a user in no project group sees the top folders only.
if setpriv --reuid=65534 --regid=65534 --clear-groups ls "$P" >/dev/null 2>&1 ||
	setpriv --reuid=65534 --regid=65534 --clear-groups ls "$Q" >/dev/null 2>&1; then
	fail permissions "nobody can list a project or the quarantine"
elif setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M/projects" >/dev/null 2>&1; then
	pass "permissions (nobody sees only the top folders)"
else fail permissions "nobody cannot even list projects/"; fi

n=$(fiona_sql "$T" "SELECT count(*) FROM audit WHERE action='read'")
a=$(fiona_sql "$T" "SELECT count(*) FROM audit WHERE action IN ('assign','unassign')")
[ "$n" -gt 0 ] && [ "$a" -ge 4 ] && pass "audit ($n reads, $a assignments)" || fail audit "$n reads, $a assignments"

# kill -9 leaves a dead mount; the next start cleans it and mounts again.
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
ls "$Q" >/dev/null 2>&1 && fail stale "the mount still answers after kill -9" || pass "kill -9 leaves a stale mount"
sh mount-scripts/fiona-unmount "$T/fiona.json" >/dev/null && ! grep -q " $M fuse" /proc/mounts &&
	pass "mount-scripts/fiona-unmount cleans it" || fail unmount-script "still mounted"
start 4
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
start 4
[ "$(ls "$Q" | wc -l)" -eq 4 ] && pass "restart after kill -9 remounts" || fail restart "$(tail -n 2 "$T/serve.log")"
exit $failed
