#!/bin/sh
# The review file on a real FUSE mount: projects/<P>/.review.tsv (and export/<P>/'s, under
# an export profile that removes SeriesDescription) lists exactly the attribute paths that
# dcmdump finds in the project's de-identified files, nested and private ones included,
# with the right file counts, examples that are values of those files and none of the
# corpus's planted strings; it follows an assignment, a second one, a re-sent version and
# an un-assignment; stat size == bytes read; a restart serves the same bytes at once.
# Differential: the expected set is built from dcmdump of every .dcm under the mount
# (tests/e2e/lib/review_check.py).
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init review
chmod 755 "$T"
[ -e /dev/fuse ] || { echo "SKIP review: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP review: allow_other needs root here"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP review: fusermount3 missing"; exit 0; }
command -v dcmdump >/dev/null || { echo "SKIP review: dcmdump missing"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP review: python3 missing"; exit 0; }
CHECK=$(pwd)/tests/e2e/lib/review_check.py

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
# export/: no SeriesDescription, a private sequence kept (listed by its creator), and the
# secondary captures left out (their files are not in the tree: nor in its review)
echo '{ "options": ["CleanDescriptors"], "tags": { "(0008,103E)": { "action": "remove" } },
  "keep_private": [{"creator": "ACME_SITE_INFO", "element": "0x20"}],
  "leave_out": { "secondary_captures": true } }' >"$T/export.json"
sed -i "s#\"destination\": \"research\"#\"export_profile\": \"$T/export.json\"#" "$T/fiona.json"
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
awk -F '\t' '$1 != "date" && $1 != "time" { print $2 }' "$T/c/manifest.txt" | sort -u >"$T/planted"
fiona_start "$T"
fiona_wait_quarantine "$T" 3
Q=$M/quarantine; P=$M/projects/PROJ01; X=$M/export/PROJ01
set -- $(ls "$Q")
[ $# -ge 3 ] || { fail quarantine "$# studies listed ($(tail -n 2 "$T/serve.log"))"; exit 1; }
# the first study assigned is the CT one (it has a secondary capture series)
S1=$(cd "$Q" && grep -l '"modality": *"CT"' */study.json | head -n 1 | cut -d/ -f1)
[ -n "$S1" ] || S1=$1
for s in "$@"; do [ "$s" != "$S1" ] && { S2=$s; break; }; done

ready() { grep -q "files: \([0-9]*\) of \1 de-identified" "$1/.status"; }
wait_ready() { # event folders
	i=0; while [ $i -lt 300 ]; do
		ok=1; for e in "$@"; do ready "$e" || ok=0; done
		[ $ok = 1 ] && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
# dumps TREE into $T/dump-NAME: one dcmdump per de-identified file
dump_tree() { # tree name
	rm -rf "$T/dump-$2"; mkdir -p "$T/dump-$2"; k=0
	find "$1" -name '*.dcm' | sort | while read -r f; do
		k=$((k + 1)); dcmdump -q +L -Un "$f" >"$T/dump-$2/$k.txt" 2>/dev/null
	done
}
# polls TREE/.review.tsv until its paths are those of the dumps (up to 15 s), then checks all
check_tree() { # tree name what
	i=0; while [ $i -lt 150 ]; do
		cat "$1/.review.tsv" >"$T/review-$2.tsv" 2>/dev/null
		python3 "$CHECK" "$T/review-$2.tsv" "$T/dump-$2" "$T/planted" --paths-only >/dev/null 2>&1 && break
		sleep 0.1; i=$((i + 1))
	done
	if python3 "$CHECK" "$T/review-$2.tsv" "$T/dump-$2" "$T/planted" >"$T/check-$2.log" 2>&1; then
		pass "$3: $(($(wc -l <"$T/review-$2.tsv") - 1)) attributes, exactly dcmdump's, counts and examples from the files"
	else fail "$3" "$(head -n 3 "$T/check-$2.log" | tr '\n' ';')"; fi
	size=$(stat -c %s "$1/.review.tsv"); got=$(cat "$1/.review.tsv" | wc -c)
	[ "$size" -eq "$got" ] && [ "$got" -gt 60 ] && pass "$3: stat size == bytes read ($size)" ||
		fail "$3-size" "stat $size, read $got"
}

[ "$(head -n 1 "$P/.review.tsv")" = "$(printf 'path\tkeyword\tvr\tinstances\tdistinct\texample1\texample2\texample3')" ] &&
	[ "$(wc -l <"$P/.review.tsv")" -eq 1 ] && pass "an empty project: the header line" ||
	fail empty "$(head -c 200 "$P/.review.tsv")"

mkdir "$P/PROJ01-0001" && mv "$Q/$S1" "$P/PROJ01-0001/baseline" || fail mv "mv failed"
wait_ready "$P/PROJ01-0001/baseline" "$X/PROJ01-0001/baseline" || fail ready "not de-identified in 30 s"
dump_tree "$P" p1; dump_tree "$X" x1
check_tree "$P" p1 "one study"
grep -q '>' "$T/review-p1.tsv" && pass "nested attributes listed with their path ($(grep -m1 -o '^([^	]*>[^	]*' "$T/review-p1.tsv"))" ||
	fail nested "no nested path"
check_tree "$X" x1 "export/ under its profile"
nx=$(find "$X" -name '*.dcm' | wc -l); np=$(find "$P" -name '*.dcm' | wc -l)
[ "$nx" -lt "$np" ] && pass "export/ leaves the secondary captures out ($nx of $np files)" ||
	fail leave-out "$nx files in export/, $np in projects/"
grep -q '^(0008,103E)' "$T/review-p1.tsv" && ! grep -q '^(0008,103E)' "$T/review-x1.tsv" &&
	pass "export/ lacks the SeriesDescription its profile removes; projects/ has it" ||
	fail export-profile "SeriesDescription rows: $(grep -c '^(0008,103E)' "$T/review-p1.tsv") / $(grep -c '^(0008,103E)' "$T/review-x1.tsv")"
grep -q '^(0029,"ACME_SITE_INFO",20)	' "$T/review-x1.tsv" && ! grep -q '^(0029,' "$T/review-p1.tsv" &&
	pass "the private sequence export/ keeps is listed by its creator" ||
	fail private "$(grep '^(0029' "$T/review-x1.tsv" | head -n 3 | tr '\t\n' ' ;')"

cp "$Q/$S2/study.json" "$T/s2.json"
mkdir "$P/PROJ01-0002" && mv "$Q/$S2" "$P/PROJ01-0002/baseline" || fail mv2 "mv failed"
wait_ready "$P/PROJ01-0001/baseline" "$P/PROJ01-0002/baseline" || fail ready2 "not de-identified"
dump_tree "$P" p2
check_tree "$P" p2 "after a second assignment"
n1=$(awk -F '\t' '$1 == "(0008,0018)" { print $4 }' "$T/review-p1.tsv")
n2=$(awk -F '\t' '$1 == "(0008,0018)" { print $4 }' "$T/review-p2.tsv")
[ -n "$n1" ] && [ "$n2" -gt "$n1" ] && pass "SOPInstanceUID counted in $n1, then $n2 files" || fail counts "$n1 -> $n2"

# A re-sent version of one file of the second study, with another Manufacturer: the old
# summary is refused (a kept header of the study changed) and the new one has the value.
uid=$(sed -n 's/.*"study_uid": *"\([^"]*\)".*/\1/p' "$T/s2.json")
for f in $(find "$T/c/P01" -name '*.dcm' | sort); do
	dcmdump -q +P 0020,000d "$f" 2>/dev/null | grep -qF "[$uid]" && { orig=$f; break; }
done
cp "$orig" "$T/resent.dcm" && dcmodify -nb -m "(0008,0070)=ZZRESENT" "$T/resent.dcm" >/dev/null 2>&1 &&
	"$FIONA" import -c "$T/fiona.json" "$T/resent.dcm" 2>>"$T/import.log" || fail resend "import failed"
i=0; while ! grep -q '^(0008,0070)	.*ZZRESENT' "$P/.review.tsv" 2>/dev/null && [ $i -lt 150 ]; do
	sleep 0.1; i=$((i + 1)); done
wait_ready "$P/PROJ01-0001/baseline" "$P/PROJ01-0002/baseline" || fail ready3 "not de-identified"
cp "$P/.review.tsv" "$T/review-p2b.tsv"
grep -q '^(0008,0070)	.*ZZRESENT' "$T/review-p2b.tsv" && pass "the re-sent value is in the review" ||
	fail resend-value "$(grep '^(0008,0070)' "$T/review-p2b.tsv")"
# The re-sent file keeps its name and inode, whose attributes and pages the kernel keeps
# for 300 s (docs/mount.md): read the files through a fresh mount to compare.
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
dump_tree "$P" p2b
if python3 "$CHECK" "$T/review-p2b.tsv" "$T/dump-p2b" "$T/planted" >"$T/check-p2b.log" 2>&1; then
	pass "after a re-sent version: exactly the files' attributes, counts and examples"
else fail resend "$(head -n 3 "$T/check-p2b.log" | tr '\n' ';')"; fi

mv "$P/PROJ01-0001/baseline" "$Q/" || fail unassign "mv back failed"
i=0; while [ -e "$P/PROJ01-0001/baseline" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
dump_tree "$P" p3
check_tree "$P" p3 "after an un-assignment"
# A restart serves the kept text at once, the same bytes.
cp "$T/review-p3.tsv" "$T/before.tsv"
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
cmp -s "$P/.review.tsv" "$T/before.tsv" && pass "after a restart: the same file at once" ||
	fail restart "$(diff "$P/.review.tsv" "$T/before.tsv" 2>&1 | head -n 3 | tr '\n' ' ')"
grep -m1 "review: PROJ01: .* from 2 studies" "$T/serve.log" | sed 's/^/# /'
exit $failed
