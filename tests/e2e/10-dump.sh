#!/bin/sh
# fiona dump against dcmtk's dcmdump on the synthetic tiny corpus (every transfer syntax,
# defined and undefined lengths, nested sequences, UN of undefined length) and on dcmconv
# re-encodings of one file (+ti implicit LE, +tb explicit BE, +td deflated; and bare datasets
# without a meta header in the first three). Both dumps are
# normalised to "depth tag VR value" lines for string, integer and AT elements (OB/OW/UN
# values, FL/FD whose formatting differs, and pixel data are skipped) and must be
# identical. A truncated file must be rejected with an offset.
set -u
BUILD=${BUILD:-build}
fiona=$BUILD/fiona
gen=$BUILD/tools/gen_corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS dump/$1"; }
fail() { echo "FAIL dump/$1: $2"; failed=1; }

for tool in dcmdump dcmconv; do
	command -v $tool >/dev/null 2>&1 || { echo "SKIP dump/all: $tool not installed"; exit 0; }
done
[ -x "$fiona" ] && [ -x "$gen" ] || { echo "FAIL dump/build: $fiona or $gen missing"; exit 1; }

# "depth tag VR value" for the VRs both tools print the same way.
norm() {
	awk '
	/^ *\([0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F],[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]\) [A-Za-z][A-Za-z] / {
		match($0, /^ */); depth = RLENGTH / 2
		line = substr($0, RLENGTH + 1)
		tag = tolower(substr(line, 1, 11)); vr = substr(line, 13, 2)
		if (substr(line, 16) ~ /^\(Sequence with/) vr = "SQ"
		if (vr !~ /^(AE|AS|CS|DA|DS|DT|IS|LO|PN|SH|TM|UI|US|UL|SS|SL|AT|SQ)$/) next
		if (tag == "(7fe0,0010)") next
		v = substr(line, 16)
		sub(/ *# *([0-9]+|u\/l), [0-9]+ [^#]*$/, "", v)
		if (vr == "SQ") v = ""
		print depth, tag, vr, v
	}'
}

compare() { # name file
	if ! "$fiona" dump "$2" >"$tmp/f.out" 2>"$tmp/f.err"; then
		fail "$1" "fiona dump failed: $(head -n 1 "$tmp/f.err")"
		return
	fi
	# fiona dump prints control characters in values as "."; so does the comparison.
	dcmdump -Un +L "$2" 2>/dev/null | tr "\000-\011\013-\037" "." | norm >"$tmp/d.norm"
	norm <"$tmp/f.out" >"$tmp/f.norm"
	n=$(wc -l <"$tmp/d.norm")
	if [ "$n" -lt 10 ]; then
		fail "$1" "dcmdump printed only $n comparable lines"
	elif cmp -s "$tmp/d.norm" "$tmp/f.norm"; then
		pass "$1"
	else
		fail "$1" "differs from dcmdump: $(diff "$tmp/d.norm" "$tmp/f.norm" | sed -n 2p)"
	fi
}

if ! "$gen" --preset tiny --seed 1 -o "$tmp/c" >/dev/null 2>&1; then
	echo "FAIL dump/generate: gen_corpus failed"
	exit 1
fi
for f in $(cd "$tmp/c" && find . -name '*.dcm' | sort); do
	compare "${f#./}" "$tmp/c/$f"
done

# Re-encodings of one implicit-LE file by dcmconv.
src=$tmp/c/$(cut -f1,3 "$tmp/c/index.tsv" | awk -F'\t' '$2 == "1.2.840.10008.1.2" { print $1; exit }')
for opt in +te +ti +tb +td; do
	if dcmconv $opt "$src" "$tmp/conv$opt.dcm" 2>/dev/null; then
		compare "dcmconv$opt" "$tmp/conv$opt.dcm"
	else
		fail "dcmconv$opt" "dcmconv failed"
	fi
done
# The same as bare datasets (no meta header): the reader detects the encoding.
for opt in +te +ti +tb; do
	if dcmconv -F $opt "$src" "$tmp/bare$opt.dcm" 2>/dev/null; then
		compare "bare-dataset$opt" "$tmp/bare$opt.dcm"
	else
		fail "bare-dataset$opt" "dcmconv failed"
	fi
done

# DICOM files written by other software that Debian packages ship (GDCM, dicom3tools).
for f in /usr/share/doc/libgdcm3.0/examples/*.dcm /usr/share/doc/dicom3tools/examples/*.dcm; do
	[ -f "$f" ] || continue
	compare "debian/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")" "$f"
done

# Truncated: exit 1, one error line with an offset.
head -c 700 "$src" >"$tmp/trunc.dcm"
if "$fiona" dump "$tmp/trunc.dcm" >/dev/null 2>"$tmp/t.err"; then
	fail truncated "exit status 0"
elif grep -q "trunc.dcm: offset [0-9]*: " "$tmp/t.err" && [ "$(wc -l <"$tmp/t.err")" -eq 1 ]; then
	pass truncated
else
	fail truncated "unexpected error output: $(head -n 1 "$tmp/t.err")"
fi
exit $failed
