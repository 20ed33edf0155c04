#!/bin/sh
# Export profile keys and the participant zip on a real FUSE mount. The export profile
# rewrites the participant ID (_ -> -), normalizes SeriesDescription, leaves out secondary
# captures and presentation states and lays the zips out as "series". Checked: export/
# shows the rewritten participant folder and its files carry it (PatientID, PatientName, a
# {participant} template) while projects/ keeps the ID; the corpus's secondary capture
# (CT series 99, "Dose Report") is in projects/ but not in export/ nor in its zips;
# descriptions are normalized; export/<P>/<ID>.zip passes unzip -t, its entries are
# byte-identical to the files and named <ID>/<EVENT>/<SeriesNumber>_<description>/<NNNN>.dcm,
# stat size == bytes read, random preads agree; after another study is assigned the zip
# is laid out again. (The corpus has no presentation state: that half of leave_out is
# covered by tests/unit/t_export_profile.c only.)
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init exportprof
chmod 755 "$T"
[ -e /dev/fuse ] || { echo "SKIP exportprof: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP exportprof: allow_other needs root here"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP exportprof: fusermount3 missing"; exit 0; }
command -v unzip >/dev/null || { echo "SKIP exportprof: unzip missing (make deps)"; exit 0; }

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
cat >"$T/export.json" <<'JSON'
{ "options": ["RetainLongModifDates", "CleanDescriptors", "RetainPatientChars"],
  "date_shift_days": [-3650, -365],
  "participant_rewrite": { "regex": "_", "replace": "-" },
  "leave_out": { "secondary_captures": true, "presentation_states": true },
  "zip_layout": "series",
  "tags": { "(0008,103E)": { "action": "normalize" },
            "(0008,0080)": { "action": "set", "value": "{participant}" } } }
JSON
# IDs with an underscore; pixels flagged only, so the secondary capture shows in projects/ at once
sed -i -e 's#\^PROJ01-\[0-9\]{4}#^PROJ01_[0-9]{4}#' \
	-e "s#\"destination\": \"research\" }#\"destination\": \"research\", \"export_profile\": \"$T/export.json\", \"pixels\": { \"clean\": false } }#" "$T/fiona.json"
grep -q export_profile "$T/fiona.json" || { fail config "export_profile not set in fiona.json"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
fiona_start "$T"
fiona_wait_quarantine "$T" 3
Q=$M/quarantine; P=$M/projects/PROJ01; X=$M/export/PROJ01
set -- $(ls "$Q")
[ $# -ge 3 ] || { fail quarantine "$# studies listed ($(tail -n 2 "$T/serve.log"))"; exit 1; }
third=$3
mkdir "$P/PROJ01_0001" && mv "$Q/$1" "$P/PROJ01_0001/baseline" && mv "$Q/$2" "$P/PROJ01_0001/baseline" &&
	pass "mv assigns two studies to PROJ01_0001/baseline" || fail mv "mv failed"
ready() { grep -q "files: \([0-9]*\) of \1 de-identified" "$1/.status" 2>/dev/null; }
wait_ready() { # event
	i=0; while ! { ready "$P/PROJ01_0001/$1" && ready "$X/PROJ01-0001/$1"; } && [ $i -lt 600 ]; do
		sleep 0.1; i=$((i + 1)); done
}
wait_ready baseline

# The participant as export/ shows it, and as its files carry it.
ls "$X" | grep -qx 'PROJ01-0001' && ! ls "$X" | grep -qx 'PROJ01_0001' && ls "$P" | grep -qx 'PROJ01_0001' &&
	pass "export/ names the folder PROJ01-0001, projects/ keeps PROJ01_0001" ||
	fail folder "export: $(ls "$X" | tr '\n' ' '); projects: $(ls "$P" | tr '\n' ' ')"
ls "$X" | grep -qx 'PROJ01-0001.zip' && pass "PROJ01-0001.zip listed beside the folder" ||
	fail pzip-listed "$(ls "$X" | tr '\n' ' ')"
val() { dcmdump -q +P "$1" "$2" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -n 1; }
xf=$(find "$X/PROJ01-0001/baseline" -name '*.dcm' | head -n 1)
pf=$(find "$P/PROJ01_0001/baseline" -name '*.dcm' | head -n 1)
a=$(val 0010,0020 "$xf"); b=$(val 0010,0010 "$xf"); c=$(val 0008,0080 "$xf"); d=$(val 0010,0020 "$pf")
[ "$a" = PROJ01-0001 ] && [ "$b" = PROJ01-0001 ] && [ "$c" = PROJ01-0001 ] && [ "$d" = PROJ01_0001 ] &&
	pass "export files: PatientID, PatientName, {participant} rewritten; projects/ keeps the ID" ||
	fail values "export PatientID '$a' PatientName '$b' InstitutionName '$c'; projects PatientID '$d'"

# Secondary captures: in projects/, left out of export/.
i=0; while [ -z "$(ls -d "$P"/PROJ01_0001/baseline/*/99_* 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
psc=$(ls -d "$P"/PROJ01_0001/baseline/*/99_* 2>/dev/null | head -n 1)
xsc=$(ls -d "$X"/PROJ01-0001/baseline/*/99_* 2>/dev/null | head -n 1)
nsc=0
for f in $(find "$X/PROJ01-0001" -name '*.dcm'); do
	dcmdump -q +P 0008,0016 "$f" 2>/dev/null | grep -q '1\.2\.840\.10008\.5\.1\.4\.1\.1\.7\]\|SecondaryCapture' && nsc=$((nsc + 1))
done
[ -n "$psc" ] && [ -z "$xsc" ] && [ $nsc -eq 0 ] &&
	pass "the secondary capture is in projects/ ($(basename "$psc")), not in export/" ||
	fail leave-out "projects: '$psc'; export: '$xsc'; $nsc SC files under export/"

# Normalized descriptions: the files carry them, the folders are named from them.
bad=0; seen=
for d in $(cd "$X/PROJ01-0001/baseline" && ls -d */*/); do
	f=$(ls "$X/PROJ01-0001/baseline/$d" | head -n 1)
	desc=$(val 0008,103e "$X/PROJ01-0001/baseline/$d/$f")
	seen="$seen $desc"
	echo "$desc" | grep -q '^\([A-Za-z0-9][A-Za-z0-9]*\(_[A-Za-z0-9][A-Za-z0-9]*\)*\)\{0,1\}$' || bad=$((bad + 1))
	[ -z "$desc" ] || [ "$(basename "$d" | sed 's/^[0-9]*_//')" = "$desc" ] || bad=$((bad + 1))
done
echo "$seen" | grep -q 'Thorax_Abd_1_25' && [ $bad -eq 0 ] &&
	pass "descriptions normalized and folders named from them ($seen )" || fail normalize "$bad bad:$seen"

# The participant zip.
checkzip() { # label: the zip against the files of export/PROJ01/PROJ01-0001
	lab=$1
	Z=$X/PROJ01-0001.zip
	i=0; while ! [ -e "$Z" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	size=$(stat -c %s "$Z" 2>/dev/null); cat "$Z" >"$T/p.zip" 2>/dev/null; got=$(stat -c %s "$T/p.zip")
	[ -n "$size" ] && [ "$size" -eq "$got" ] && [ "$size" -gt 22 ] && pass "$lab: stat size == bytes read ($size)" ||
		fail "$lab-size" "stat '$size', read $got ($(tail -n 2 "$T/serve.log"))"
	unzip -tq "$T/p.zip" >"$T/unzip.log" 2>&1 && pass "$lab: unzip -t" || fail "$lab-unzip" "$(tail -n 2 "$T/unzip.log")"
	nf=$(find "$X/PROJ01-0001" -name '*.dcm' | wc -l); ne=$(unzip -Z1 "$T/p.zip" | wc -l)
	[ "$nf" -eq "$ne" ] && [ "$nf" -gt 0 ] && pass "$lab: one entry per file ($ne)" || fail "$lab-entries" "$ne entries, $nf files"
	badname=$(unzip -Z1 "$T/p.zip" | grep -cv '^PROJ01-0001/\(baseline\|followup\)/[0-9][0-9]*_[A-Za-z0-9_~]*/[0-9][0-9][0-9][0-9]\(~[0-9]*\)\{0,1\}\.dcm$')
	unzip -Z1 "$T/p.zip" | grep -q '/99_' && badname=$((badname + 1))
	[ "$badname" -eq 0 ] && pass "$lab: entries named <ID>/<EVENT>/<SeriesNumber>_<description>/<NNNN>.dcm ($(unzip -Z1 "$T/p.zip" | head -n 1))" ||
		fail "$lab-names" "$badname bad names ($(unzip -Z1 "$T/p.zip" | head -n 3 | tr '\n' ' '))"
	bad=0
	for e in $(unzip -Z1 "$T/p.zip"); do
		ev=$(echo "$e" | cut -d/ -f2); se=$(echo "$e" | cut -d/ -f3); fn=$(echo "$e" | cut -d/ -f4)
		set -- "$X"/PROJ01-0001/"$ev"/*/"$se"/"$fn"
		[ $# -eq 1 ] && [ "$(unzip -p "$T/p.zip" "$e" | cksum)" = "$(cksum <"$1")" ] || bad=$((bad + 1))
	done
	[ $bad -eq 0 ] && pass "$lab: entries byte-identical to the files" || fail "$lab-identical" "$bad entries differ"
	bad=0
	for k in 1 2 3 4 5 6 7 8 9 10; do
		bs=$(( (k * 7919) % 70000 + 1 )); off=$(( (k * 1000003) % size ))
		a=$(dd if="$Z" bs=1 skip="$off" count="$bs" iflag=skip_bytes,count_bytes 2>/dev/null | cksum)
		b=$(dd if="$T/p.zip" bs=1 skip="$off" count="$bs" iflag=skip_bytes,count_bytes 2>/dev/null | cksum)
		[ "$a" = "$b" ] || bad=$((bad + 1))
	done
	[ "$(tail -c 100 "$Z" | cksum)" = "$(tail -c 100 "$T/p.zip" | cksum)" ] || bad=$((bad + 1))
	[ $bad -eq 0 ] && pass "$lab: random preads agree with a full read" || fail "$lab-pread" "$bad ranges differ"
}
checkzip pzip
size1=$size
if python3 -c 'import zipfile' 2>/dev/null; then
	python3 -c 'import zipfile,sys; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)' "$X/PROJ01-0001.zip" 2>"$T/py.log" &&
		pass "Python zipfile accepts the participant zip" || fail python "$(tail -n 1 "$T/py.log")"
fi
EZ=$X/PROJ01-0001/baseline.zip
i=0; while [ ! -e "$EZ" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
n=$(unzip -Z1 "$EZ" 2>/dev/null | grep -cv '^baseline/[0-9][0-9]*_[A-Za-z0-9_~]*/[0-9][0-9][0-9][0-9]\(~[0-9]*\)\{0,1\}\.dcm$')
[ -e "$EZ" ] && [ "$n" -eq 0 ] && unzip -tq "$EZ" >/dev/null 2>&1 &&
	pass "the event zip has the series layout too ($(unzip -Z1 "$EZ" | head -n 1))" || fail event-zip "$n bad names"

# Another event: the participant zip is laid out again (its participant's scope changed).
mv "$Q/$third" "$P/PROJ01_0001/followup" || fail mv2 "mv of the third study failed"
wait_ready followup
i=0; while ! unzip -Z1 "$X/PROJ01-0001.zip" 2>/dev/null | grep -q '^PROJ01-0001/followup/' && [ $i -lt 100 ]; do
	sleep 0.2; i=$((i + 1)); done
checkzip pzip2
[ "$size" != "$size1" ] && unzip -Z1 "$T/p.zip" | grep -q '^PROJ01-0001/followup/' &&
	pass "after assigning followup the zip holds it ($size1 -> $size bytes)" || fail relayout "$size1 -> $size"

# The flat layout: another profile (new fingerprint: headers and CRCs computed again).
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
sed -i 's/"zip_layout": "series"/"zip_layout": "flat"/' "$T/export.json"
fiona_start "$T"
i=0; while ! unzip -Z1 "$X/PROJ01-0001.zip" 2>/dev/null | grep -q '^PROJ01-0001_' && [ $i -lt 300 ]; do
	sleep 0.2; i=$((i + 1)); done
unzip -Z1 "$X/PROJ01-0001.zip" >"$T/flat.txt" 2>/dev/null
nf=$(find "$X/PROJ01-0001" -name '*.dcm' | wc -l); ne=$(wc -l <"$T/flat.txt")
badname=$(grep -cv '^PROJ01-0001_\(baseline\|followup\)_[0-9][0-9]*_[A-Za-z0-9_~]*_[0-9][0-9][0-9][0-9]\(~[0-9]*\)\{0,1\}\.dcm$' "$T/flat.txt")
dup=$(sort "$T/flat.txt" | uniq -d | wc -l)
[ "$ne" -eq "$nf" ] && [ "$nf" -gt 0 ] && [ "$badname" -eq 0 ] && [ "$dup" -eq 0 ] && unzip -tq "$X/PROJ01-0001.zip" >/dev/null 2>&1 &&
	pass "flat layout: $ne unique entries <ID>_<EVENT>_<series>_<NNNN>.dcm ($(head -n 1 "$T/flat.txt")), unzip -t" ||
	fail flat "$ne entries, $nf files, $badname bad names, $dup repeated ($(head -n 2 "$T/flat.txt" | tr '\n' ' '))"
exit $failed
