#!/bin/sh
# Burned-in text through the whole gateway (docs/burn.md): ultrasound images with the
# patient's name, ID, birth date and accession drawn in their pixels are imported, assigned
# with `mv`, cleaned in the background and forwarded to Orthanc. What Orthanc holds is what
# the mount shows, byte for byte; OCR of it reads none of the planted tokens (and reads at
# least 90 % of them in the input); its header says BurnedInAnnotation NO and code 113101.
# An instance that cannot be cleaned (an encapsulated document; unreadable pixels) is held:
# never in Orthanc, not on the mount, named with its reason in .status and fiona status.
# A series the project marks safe is skipped and a secondary capture the project drops is
# neither shown nor sent; both are recorded. A series a classification rule labels
# CHECKBURNEDINFO is a candidate though its kind (MR) is not. dciodvfy finds no new error in what was cleaned
# and dcm2niix converts it as it did the input.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
GENB=$(pwd)/$BUILD/tools/gen_burned
e2e_gateway_init burn-forward
[ -x "$ORTHANC_BIN" ] || { echo "SKIP burn-forward: Orthanc missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP burn-forward: needs /dev/fuse and root"; exit 0; }
[ -d /usr/share/tesseract-ocr ] || { echo "SKIP burn-forward: tesseract's data missing (make deps)"; exit 0; }

fiona_setup "$T" 3 || { fail generate "gen_corpus failed"; exit 1; }
# PROJ01 skips series described "SAFE ..." and drops secondary captures.
sed -i 's|"destination": "research" }|"destination": "research",\
    "pixels": { "skip": [ { "tag": "SeriesDescription", "matches": "^SAFE" } ],\
                "drop": [ "secondary_capture" ] } }|' "$T/fiona.json"
# A classification rule labels "Patient Protocol" series CHECKBURNEDINFO: candidates too.
echo '[{"type": "CHECKBURNEDINFO", "rules": [{"tag": "SeriesDescription", "operator": "regexp",
  "value": "[Pp]rotocol"}]}]' >"$T/classify.json"
sed -i "s|\"quiet_seconds\"|\"classify_rules\": \"$T/classify.json\", \"quiet_seconds\"|" "$T/fiona.json"
"$GENB" -o "$T/g" --px 14 >/dev/null || { fail gen "gen_burned failed"; exit 1; }
mkdir -p "$T/in"
n=0
put() { # source series-number [dcmodify args...]
	src=$1; ser=$2; shift 2
	n=$((n + 1))
	cp "$T/g/$src.dcm" "$T/in/$n.dcm"
	dcmodify -nb -i "(0020,0011)=$ser" -i "(0020,0013)=1" "$@" "$T/in/$n.dcm" >/dev/null 2>&1 ||
		fail "dcmodify-$n" "dcmodify $* failed"
}
put mono2-8 1; put rgb 2; put palette 3; put rgb-cine 4          # cleaned
put mono2-8 5 -i "(0008,0016)=1.2.840.10008.5.1.4.1.1.104.1" \
	-i "(0008,0018)=1.3.6.1.4.1.99998.5.5" -i "(0020,000E)=1.3.6.1.4.1.99998.5" # held: a document
put mono2-16 6 -i "(0028,0101)=20"                                 # held: unreadable pixels
put ybr-full 7 -i "(0008,103E)=SAFE overlay only"                  # skipped
put mono1-16s 8 -i "(0008,0016)=1.2.840.10008.5.1.4.1.1.7"         # dropped
put mono2-16 9 -i "(0008,0016)=1.2.840.10008.5.1.4.1.1.4" -i "(0008,0060)=MR" \
	-i "(0008,0018)=1.3.6.1.4.1.99998.9.9" -i "(0020,000E)=1.3.6.1.4.1.99998.9" \
	-i "(0008,103E)=Patient Protocol"                              # labelled: cleaned
FRAGS="NORDMANN 0101701 1970-01 20240315"
ocr_found() { # dir-of-dcm: planted (file, fragment) pairs OCR reads
	(cd "$1" && "$FIONA" ocr *.dcm 2>/dev/null) >"$T/ocr.txt"
	k=0
	for f in "$1"/*.dcm; do
		b=$(basename "$f")
		for t in $FRAGS; do grep -F "$b" "$T/ocr.txt" | grep -qiF "$t" && k=$((k + 1)); done
	done
	echo $k
}
mkdir -p "$T/in4" && cp "$T/in/1.dcm" "$T/in/2.dcm" "$T/in/3.dcm" "$T/in/4.dcm" "$T/in/9.dcm" "$T/in4/"
before=$(ocr_found "$T/in4")
[ $((before * 100)) -ge $((20 * 90)) ] && pass "OCR reads $before of 20 planted tokens in the input" ||
	fail input "OCR reads only $before of 20 planted tokens: the test would measure nothing"

orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || { fail orthanc "Orthanc did not start"; exit 1; }
fiona_start "$T"
"$FIONA" import -c "$T/fiona.json" "$T/in" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
fiona_wait_quarantine "$T" 1
Q=$M/quarantine; P=$M/projects/PROJ01
S=$(ls "$Q" | head -n 1)
mkdir "$P/PROJ01-0001" && mv "$Q/$S" "$P/PROJ01-0001/baseline" || fail mv "mv failed"
E=$P/PROJ01-0001/baseline
in_orthanc() { curl -sf "$ORTHANC_URL/instances" | tr ',' '\n' | grep -c '"'; }
i=0; while ! grep -q " 6 verified" "$E/.status" 2>/dev/null && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
grep -q " 6 verified" "$E/.status" && pass "6 instances cleaned or skipped, sent and verified" ||
	fail verified "$(cat "$E/.status" 2>&1)"
sleep 3 # held and dropped ones must stay where they are
got=$(in_orthanc)
[ "$got" -eq 6 ] && pass "Orthanc holds 6: the held and dropped ones never went" ||
	fail orthanc-count "Orthanc holds $got instances"
grep -q "files: 6 of 9 de-identified; 2 held for burned-in text (below); 1 dropped" "$E/.status" &&
	pass ".status counts held and dropped" || fail status-counts "$(cat "$E/.status")"
grep -q "held: series 5 instance 1: an encapsulated document" "$E/.status" &&
	grep -q "held: series 6 instance 1: " "$E/.status" &&
	grep -q "skipped: series 7 instance 1: SeriesDescription matches the project's skip list" "$E/.status" &&
	pass ".status names held and skipped instances with their reasons" || fail status-held "$(cat "$E/.status")"
[ "$(find "$E" -name '*.dcm' | wc -l)" -eq 6 ] &&
	pass "the mount shows the 6 that left, not the held or dropped ones" ||
	fail mount-count "$(find "$E" -name '*.dcm' | wc -l) files on the mount"
"$FIONA" status -c "$T/fiona.json" >"$T/status.txt" 2>&1
grep -q "held for burned-in text:" "$T/status.txt" && grep -q "PROJ01 study [0-9]* series 5 instance 1: an encapsulated" "$T/status.txt" &&
	grep -q "pixels      5 cleaned of burned-in text, 2 held, 1 skipped" "$T/status.txt" &&
	pass "fiona status lists the held instances" || fail fiona-status "$(cat "$T/status.txt")"

# What Orthanc holds == what the mount shows, and OCR reads nothing planted in it.
mkdir -p "$T/out"
for id in $(curl -sf "$ORTHANC_URL/instances" | tr -d '[]" ' | tr ',' ' '); do
	curl -sf "$ORTHANC_URL/instances/$id/file" -o "$T/out/$id.dcm"
done
# Orthanc writes its own file meta header: the datasets are compared.
sums() { for f in "$@"; do dcmconv -F "$f" "$T/ds.tmp" 2>/dev/null && cksum <"$T/ds.tmp"; done | sort; }
[ "$(sums "$T"/out/*.dcm)" = "$(sums $(find "$E" -name '*.dcm'))" ] &&
	pass "Orthanc's datasets == the mount's" || fail bytes "Orthanc and the mount differ"
mkdir -p "$T/out4"
for f in "$T"/out/*.dcm; do
	dcmdump -q +P 0008,103e "$f" 2>/dev/null | grep -q SAFE || cp "$f" "$T/out4/"
done
after=$(ocr_found "$T/out4")
[ "$(ls "$T/out4" | wc -l)" -eq 5 ] && [ "$after" -eq 0 ] &&
	pass "OCR of what Orthanc holds reads none of the planted tokens ($before before)" ||
	fail ocr-after "$after planted tokens read in $(ls "$T/out4" | wc -l) cleaned files"
ok=0
for f in "$T"/out4/*.dcm; do
	d=$(dcmdump -q "$f" 2>&1)
	echo "$d" | grep -q "(0028,0301) CS \[NO\]" && echo "$d" | grep -q "113101" &&
		echo "$d" | grep -q "Clean Pixel Data Option" && ok=$((ok + 1))
done
[ $ok -eq 5 ] && pass "cleaned output (the labelled MR too): BurnedInAnnotation NO, code 113101, method text" ||
	fail header "$ok of 5 cleaned files say so"
# dciodvfy: no error in a cleaned output that its input does not have already.
vfy() { dciodvfy "$1" 2>&1 | grep "^Error" | sort -u; }
for f in "$T"/in4/*.dcm; do vfy "$f"; done | sort -u >"$T/vfy.in"
bad=0
for f in "$T"/out4/*.dcm; do
	vfy "$f" | comm -23 - "$T/vfy.in" >"$T/vfy.new"
	[ -s "$T/vfy.new" ] && { bad=$((bad + 1)); cat "$T/vfy.new" >>"$T/vfy.txt"; }
done
[ $bad -eq 0 ] && pass "dciodvfy: no new errors in the cleaned output" || fail dciodvfy "$(head -n 3 "$T/vfy.txt")"
# dcm2niix converts each cleaned image it converted before (one NIfTI per input).
nii() { rm -rf "$T/nii" && mkdir -p "$T/nii" && dcm2niix -o "$T/nii" "$1" >/dev/null 2>&1; ls "$T/nii" | grep -c '\.nii$'; }
if command -v dcm2niix >/dev/null; then
	a=$(nii "$T/in4"); b=$(nii "$T/out4")
	[ "$a" -gt 0 ] && [ "$b" -eq "$a" ] && pass "dcm2niix converts the cleaned images ($b of $a as before)" ||
		fail dcm2niix "$b converted after cleaning, $a before"
fi
exit $failed
