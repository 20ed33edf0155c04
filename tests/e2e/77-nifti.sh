#!/bin/sh
# NIfTI exports on a real FUSE mount: after `mv` of the corpus's studies into an event,
# export/<P>/<ID>/<EVENT>/nifti/ shows what dcm2niix makes of each series, converted in the
# background from the de-identified files. Checked against dcm2niix run by hand, with the
# same options, on a copy of the mount's event folder: the same names, the same .nii.gz,
# .bval and .bvec bytes, the same sidecars but for the members fiona takes out; no planted
# string in a sidecar or a NIfTI header; stat size == bytes read; dcm2niix ran on a 0700
# folder under data_dir/tmp that is gone afterwards; nothing converted again after a
# restart; a re-assignment converts again and removes what is no longer used; an
# un-assignment removes the rows and objects; a series dcm2niix fails on is kept as
# failed with its reason, and not retried until its input changes; a dcm2niix that hangs
# is killed at the timeout with its children; an export profile change converts again;
# "nifti": false removes nifti/ with its rows and objects.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init nifti
chmod 755 "$T"
e2e_need_mount dcm2niix python3 sqlite3
OPTS="-b y -ba y -z i -f %f -d 0" # fs/fs_int.h FS_NIFTI_OPTIONS
# Members fiona takes out of every sidecar (fs/nifti_view.c strip_keys).
STRIP="PatientName PatientID PatientBirthDate PatientSex PatientAge PatientWeight PatientSize
AccessionNumber StudyID StudyInstanceUID SeriesInstanceUID ReferringPhysicianName
PerformingPhysicianName OperatorsName InstitutionName InstitutionalDepartmentName
InstitutionAddress StationName DeviceSerialNumber AcquisitionDateTime AcquisitionDate StudyDate
SeriesDate ContentDate ImageComments PatientComments StudyComments"

# dcm2niix through a wrapper that notes where its input is, that folder's mode, and each
# run (FIONA_DCM2NIIX); while $T/fail exists it fails every conversion (exit status 2),
# while $T/slow exists it hangs (31 s) before converting.
cat >"$T/wrap.sh" <<EOF
#!/bin/sh
for a; do in=\$a; done
case "\$1" in --version) exec dcm2niix "\$@" ;; esac
echo "run \$(stat -c %a "\$(dirname "\$in")") \$in" >>"$T/runs.log"
[ -e "$T/fail" ] && exit 2
[ -e "$T/slow" ] && sleep 31
[ -e "$T/slow" ] && echo "ran on after the timeout" >>"$T/runs.log"
exec dcm2niix "\$@"
EOF
chmod 755 "$T/wrap.sh"
export FIONA_DCM2NIIX="$T/wrap.sh"
: >"$T/runs.log"

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" "$T/c/P02" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
fiona_start "$T"
fiona_wait_quarantine "$T" 4
Q=$M/quarantine; P=$M/projects/PROJ01; X=$M/export/PROJ01
# Every study but one without MR goes to one event; that one is assigned later.
LAST=
for s in $(ls "$Q"); do grep -q '"modality": "MR"' "$Q/$s/study.json" || LAST=$s; done
[ -n "$LAST" ] && [ "$(ls "$Q" | wc -l)" -ge 3 ] || { fail quarantine "$(ls "$Q" | wc -l) studies listed, none without MR"; exit 1; }
mkdir "$P/PROJ01-0001" && for s in $(ls "$Q"); do
	[ "$s" = "$LAST" ] || mv "$Q/$s" "$P/PROJ01-0001/baseline" || fail mv "mv $s"; done
E=$X/PROJ01-0001/baseline
ready() { grep -q "^nifti/: \([1-9][0-9]*\) of \1 series converted" "$1/.status" 2>/dev/null; }
i=0; while ! ready "$E" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
ready "$E" && pass "nifti/ ready $((i / 10)).$((i % 10)) s after mv ($(grep '^nifti/' "$E/.status"))" ||
	{ fail ready "$(grep '^nifti/' "$E/.status"); $(grep nifti "$T/serve.log" | tail -n 3)"; exit 1; }
[ -d "$E/nifti" ] && [ ! -e "$P/PROJ01-0001/baseline/nifti" ] && pass "nifti/ under export/ only" ||
	fail where "nifti/ missing in export/ or present in projects/"

# dcm2niix by hand on a copy of the event folder's series, with the same options.
mkdir -p "$T/copy" "$T/hand"
for d in "$E"/*/*/; do cp -r "$d" "$T/copy/"; done
nser=0; nconv=0
for d in "$T/copy"/*/; do
	n=$(basename "$d"); nser=$((nser + 1)); mkdir -p "$T/hand/$n"
	# shellcheck disable=SC2086
	if HOME=$T/hand dcm2niix $OPTS -o "$T/hand/$n" "$d" >"$T/hand/$n.log" 2>&1 && ls "$T/hand/$n" | grep -q '\.nii\.gz$'; then
		nconv=$((nconv + 1))
	else rm -rf "${T:?}/hand/$n"; fi
done
(cd "$T/hand" && find . -mindepth 2 -type f \( -name '*.nii.gz' -o -name '*.json' -o -name '*.bval' -o -name '*.bvec' \) | sed 's#.*/##' | sort) >"$T/hand.names"
ls "$E/nifti" | sort >"$T/mount.names"
[ "$nconv" -gt 0 ] && cmp -s "$T/hand.names" "$T/mount.names" &&
	pass "the same $(wc -l <"$T/mount.names") files as dcm2niix by hand ($nconv of $nser series converted)" ||
	fail names "$(diff "$T/hand.names" "$T/mount.names" | head -n 6 | tr '\n' ' ')"
grep -q "MR" "$E/.status" && ls "$E/nifti" | grep -q 'DWI.*\.bval$' && pass "the DWI series has its .bval" ||
	fail bval "no .bval ($(ls "$E/nifti" | tr '\n' ' '))"

same=0; unzipped=0; bad=0
for f in $(cat "$T/mount.names"); do
	h=$(find "$T/hand" -name "$f" | head -n 1)
	[ -n "$h" ] || { bad=$((bad + 1)); continue; }
	case "$f" in
	*.json) continue ;;
	*.nii.gz)
		if cmp -s "$h" "$E/nifti/$f"; then same=$((same + 1))
		elif [ "$(zcat "$h" | cksum)" = "$(zcat "$E/nifti/$f" | cksum)" ]; then unzipped=$((unzipped + 1))
		else bad=$((bad + 1)); echo "  $f differs"; fi ;;
	*) cmp -s "$h" "$E/nifti/$f" && same=$((same + 1)) || { bad=$((bad + 1)); echo "  $f differs"; } ;;
	esac
done
[ $bad -eq 0 ] && [ $same -gt 0 ] &&
	pass "NIfTI, .bval, .bvec byte-identical to dcm2niix by hand ($same identical, $unzipped equal decompressed only)" ||
	fail identical "$bad differ"

# Sidecars: dcm2niix's by hand less the members fiona takes out, nothing else changed.
cat >"$T/cmp.py" <<'EOF'
import json, sys
strip = set(sys.argv[1].split())
hand, mine = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
gone = [k for k in hand if k in strip]
want = {k: v for k, v in hand.items() if k not in strip}
ok = want == mine and not (strip & set(mine))
print(",".join(gone))
sys.exit(0 if ok else 1)
EOF
bad=0; : >"$T/gone"
for f in $(grep '\.json$' "$T/mount.names"); do
	h=$(find "$T/hand" -name "$f" | head -n 1)
	python3 "$T/cmp.py" "$STRIP" "$h" "$E/nifti/$f" >>"$T/gone" 2>&1 || { bad=$((bad + 1)); echo "  $f: $(tail -n 1 "$T/gone")"; }
done
[ $bad -eq 0 ] && pass "sidecars equal dcm2niix's less $(tr ',' '\n' <"$T/gone" | sort -u | grep . | tr '\n' ' ')" ||
	fail sidecars "$bad differ"

# No planted string in a sidecar or a NIfTI header (dates and times also as the sidecar
# writes them: 2023-11-08, 10:25:01).
awk -F '\t' '{ print $2 }
	$1 == "date" && length($2) >= 8 { print substr($2,1,4) "-" substr($2,5,2) "-" substr($2,7,2) }
	$1 == "time" && length($2) >= 6 { print substr($2,1,2) ":" substr($2,3,2) ":" substr($2,5,2) }' \
	"$T/c/manifest.txt" | grep -v '^$' | sort -u >"$T/planted"
leak=0
for f in "$E"/nifti/*.json; do grep -qFf "$T/planted" "$f" && { leak=$((leak + 1)); grep -oFf "$T/planted" "$f" | head -n 2; }; done
for f in "$E"/nifti/*.nii.gz; do zcat "$f" | head -c 352 | grep -qaFf "$T/planted" && leak=$((leak + 1)); done
[ -s "$T/planted" ] && [ $leak -eq 0 ] && pass "no planted string ($(wc -l <"$T/planted")) in a sidecar or NIfTI header" ||
	fail planted "$leak files hold a planted string"

bad=0
for f in "$E"/nifti/*; do [ "$(stat -c %s "$f")" -eq "$(cat "$f" | wc -c)" ] || bad=$((bad + 1)); done
[ $bad -eq 0 ] && pass "stat size == bytes read" || fail size "$bad files"

runs=$(grep -c '^run ' "$T/runs.log")
modes=$(awk '{ print $2 }' "$T/runs.log" | sort -u | tr '\n' ' ')
outside=$(awk '{ print $3 }' "$T/runs.log" | grep -vc "^$T/var/tmp/nifti-" ; true)
left=$(find "$T/var/tmp" -name 'nifti-*' | wc -l)
[ "$runs" -eq "$nser" ] && [ "$modes" = "700 " ] && [ "$outside" -eq 0 ] && [ "$left" -eq 0 ] &&
	pass "one run per series ($runs), each on a 0700 folder under data_dir/tmp, removed afterwards" ||
	fail runs "$runs runs for $nser series, modes '$modes', $outside outside data_dir/tmp, $left left"

# A restart converts nothing again and shows the same bytes.
cksum "$E"/nifti/* >"$T/sums1"
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
i=0; while [ ! -e "$E/nifti" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 2
cksum "$E"/nifti/* >"$T/sums2" 2>/dev/null
[ "$(grep -c '^run ' "$T/runs.log")" -eq "$runs" ] && cmp -s "$T/sums1" "$T/sums2" &&
	pass "after a restart: nothing converted again, the same bytes" ||
	fail restart "$(grep -c '^run ' "$T/runs.log") runs (were $runs); $(diff "$T/sums1" "$T/sums2" | head -n 2)"

# Series dcm2niix fails on: kept as failed with the reason, not retried. The study assigned
# now goes to another participant while dcm2niix fails.
: >"$T/fail"
mkdir "$P/PROJ01-0002" && mv "$Q/$LAST" "$P/PROJ01-0002/followup" || fail mv "mv $LAST"
E2=$X/PROJ01-0002/followup
settled() { grep -q "^nifti/: [0-9]* of [0-9]* series converted; 0 waiting" "$1/.status" 2>/dev/null; }
i=0; while ! settled "$E2" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
st=$(grep -A3 '^nifti/' "$E2/.status")
if echo "$st" | grep -q "^nifti/: 0 of [1-9][0-9]* series converted; 0 waiting; [1-9][0-9]* could not be converted" &&
	echo "$st" | grep -q '^  series .*: dcm2niix exited with status 2' && [ -z "$(ls "$E2/nifti")" ] &&
	grep -q "nifti: series [0-9]*: not converted: dcm2niix exited with status 2" "$T/serve.log"; then
	pass "a failed series: in .status and the log with its reason, not shown ($(echo "$st" | head -n 1))"
else fail failed "$st"; fi
r1=$(grep -c '^run ' "$T/runs.log"); rm -f "$T/fail"
ls "$E2/nifti" >/dev/null; sleep 1.5; ls "$E2/nifti" >/dev/null
[ "$(grep -c '^run ' "$T/runs.log")" -eq "$r1" ] && pass "a failed series is not retried while its input is the same" ||
	fail retry "runs $r1 -> $(grep -c '^run ' "$T/runs.log")"

# A dcm2niix that hangs is killed at the timeout (its whole process group) and the series
# kept as failed; a new input (another participant: new pseudonyms) converts again.
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
: >"$T/slow"
export FIONA_NIFTI_TIMEOUT=1
fiona_start "$T"
unset FIONA_NIFTI_TIMEOUT
mkdir "$P/PROJ01-0003" && mv "$P/PROJ01-0002/followup" "$P/PROJ01-0003/followup" || fail mv "to PROJ01-0003"
E4=$X/PROJ01-0003/followup
i=0; while ! settled "$E4" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
st=$(grep -A1 '^nifti/' "$E4/.status")
sleep 0.5
hung=$(ps -eo args | grep -c '^sleep 31$'; true)
if echo "$st" | grep -q "dcm2niix did not finish in 1 s" && [ "$hung" -eq 0 ] &&
	! grep -q "ran on after the timeout" "$T/runs.log"; then
	pass "a hanging dcm2niix is killed at the timeout, with its children ($(echo "$st" | tail -n 1 | sed 's/^ *//'))"
else fail timeout "$st; $hung sleeps left"; fi
rm -f "$T/slow"
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
r1=$(grep -c '^run ' "$T/runs.log")
mv "$P/PROJ01-0003/followup" "$P/PROJ01-0002/followup" || fail mv "back to PROJ01-0002"

# Re-assignment: converted again at the new place; what is no longer used is removed.
objs() { find "$T/var/derived" -type f 2>/dev/null | sed 's#.*/##' | sort; }
named() { fiona_sql "$T" "SELECT DISTINCT hash FROM nifti_files" | sort; }
objs >"$T/objs1"
mv "$P/PROJ01-0001/baseline" "$P/PROJ01-0002/baseline" || fail mv "re-assign"
E3=$X/PROJ01-0002/baseline
# the followup moved just before converts meanwhile: its objects and rows come in that
# order, so both listings are taken once it has settled too (under load it had not, and
# 27 named objects were compared with the 25 on disk)
i=0; while ! { ready "$E3" && settled "$X/PROJ01-0002/followup"; } && [ $i -lt 300 ]; do
	sleep 0.1; i=$((i + 1)); done
sleep 0.5; objs >"$T/objs2"; named >"$T/named"
gone=$(comm -23 "$T/objs1" "$T/objs2" | wc -l)
[ ! -e "$E" ] && ready "$E3" && [ "$(grep -c '^run ' "$T/runs.log")" -ge $((r1 + nser)) ] &&
	ls "$E3/nifti" | sort | cmp -s - "$T/mount.names" && cmp -s "$T/objs2" "$T/named" &&
	pass "re-assigned: converted again ($(($(grep -c '^run ' "$T/runs.log") - r1)) runs); every object is named by a row ($gone no longer used removed)" ||
	fail reassign "$(grep '^nifti/' "$E3/.status"); $(wc -l <"$T/objs2") objects, $(wc -l <"$T/named") named"

# Un-assignment: the study's rows and objects go, the event's others stay.
nrows() { fiona_sql "$T" "SELECT count(*) FROM nifti"; }
mv "$P/PROJ01-0002/followup" "$Q/" || fail mv "un-assign"
i=0; while { [ "$(nrows)" -gt "$nser" ] || [ -e "$X/PROJ01-0002/followup" ]; } && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1)); done
objs >"$T/objs3"; named >"$T/named"
[ ! -e "$X/PROJ01-0002/followup" ] && [ "$(nrows)" -eq "$nser" ] && cmp -s "$T/objs3" "$T/named" &&
	[ -s "$T/objs3" ] && pass "un-assigned: that study's NIfTI rows and objects removed, the others kept" ||
	fail unassign "$(nrows) runs for $nser series; $(wc -l <"$T/objs3") objects, $(wc -l <"$T/named") named"

# A change of the export profile converts again (a new fingerprint in every key); the runs
# of the old one go.
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
echo '{ "options": ["CleanDescriptors"], "tags": { "(0008,1030)": { "action": "remove" } } }' >"$T/export.json"
sed -i "s#\"destination\": \"research\"#\"destination\": \"research\", \"export_profile\": \"$T/export.json\"#" "$T/fiona.json"
r1=$(grep -c '^run ' "$T/runs.log")
fiona_start "$T"
i=0; while ! ready "$E3" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5; objs >"$T/objs4"; named >"$T/named"
fps=$(fiona_sql "$T" "SELECT count(DISTINCT profile) FROM nifti")
[ "$(grep -c '^run ' "$T/runs.log")" -ge $((r1 + nser)) ] && ready "$E3" && [ "$fps" -eq 1 ] &&
	cmp -s "$T/objs4" "$T/named" &&
	pass "export profile changed: converted again ($(($(grep -c '^run ' "$T/runs.log") - r1)) runs), one profile's runs left" ||
	fail profile "$(($(grep -c '^run ' "$T/runs.log") - r1)) runs; $fps profiles; $(grep '^nifti/' "$E3/.status")"

# "nifti": false: no nifti/ in the project's event folders, its runs and objects removed.
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
sed -i 's#"destination": "research",#"destination": "research", "nifti": false,#' "$T/fiona.json"
fiona_start "$T"
i=0; while { [ "$(objs | wc -l)" -gt 0 ] || [ -e "$E3/nifti" ]; } && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
rows=$(fiona_sql "$T" "SELECT (SELECT count(*) FROM nifti) + (SELECT count(*) FROM nifti_files)")
[ -d "$E3" ] && [ ! -e "$E3/nifti" ] && ! grep -q '^nifti/' "$E3/.status" && [ "$(objs | wc -l)" -eq 0 ] &&
	[ "$rows" -eq 0 ] && pass "\"nifti\": false: no nifti/, its rows and objects removed" ||
	fail off "$(ls "$E3" | tr '\n' ' '); $(objs | wc -l) objects, $rows rows left"
exit $failed
