#!/bin/sh
# Burned-in text (anon/burn.c through `fiona ocr --clean`): ultrasound-like images of every
# photometric interpretation (MONOCHROME1/2 8 and 16 bit, signed, RGB planar 0 and 1,
# YBR_FULL, YBR_FULL_422, PALETTE COLOR, a 3-frame cine) with the patient's name, ID,
# birth date and accession drawn by FreeType at 10 and 14 px. OCR must read at least 90 %
# of the planted tokens in the input (else the test measures nothing); after cleaning it
# must read none of them, and dcmdump must read every output. The same for compressed
# input (JPEG baseline and lossless, JPEG-LS, RLE, JPEG 2000 lossless and lossy), which
# comes out uncompressed.
BUILD=${BUILD:-build}
FIONA=${FIONA:-$(pwd)/$BUILD/fiona}
GEN=$(pwd)/$BUILD/tools/gen_burned
J2K=$(pwd)/$BUILD/tools/j2k_encap
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failed=0
pass() { echo "PASS burn/$1"; }
fail() { echo "FAIL burn/$1: $2"; failed=1; }
command -v tesseract >/dev/null 2>&1 || [ -d /usr/share/tesseract-ocr ] ||
	{ echo "SKIP burn: tesseract's data is not installed (make deps)"; exit 0; }
# What OCR reads of each planted token (a fragment long enough to identify it).
FRAGS="NORDMANN 0101701 1970-01 20240315"
found() { # ocr-output file [name glob]: how many (file, fragment) pairs are read
	n=0
	for f in "$T"/in/${2:-*}.dcm; do
		b=$(basename "$f")
		for t in $FRAGS; do grep -F "$b" "$1" | grep -qiF "$t" && n=$((n + 1)); done
	done
	echo $n
}
for px in 14 10; do
	rm -rf "$T/in" "$T/out" && mkdir -p "$T/out"
	"$GEN" -o "$T/in" --px $px || { fail "gen-$px" "gen_burned failed"; continue; }
	files=$(ls "$T"/in/*.dcm | wc -l)
	want=$((files * 4))
	(cd "$T/in" && "$FIONA" ocr *.dcm) >"$T/in.ocr" 2>"$T/ocr.err"
	got=$(found "$T/in.ocr")
	if [ $((got * 100)) -ge $((want * 90)) ]; then pass "$px px: OCR reads $got of $want planted tokens in the input"
	else fail "input-$px" "OCR reads only $got of $want planted tokens: the test would measure nothing"; fi
	"$FIONA" ocr --clean "$T/out" "$T"/in/*.dcm >"$T/clean.out" 2>"$T/clean.err"
	[ "$(ls "$T"/out/*.dcm 2>/dev/null | wc -l)" -eq "$files" ] && pass "$px px: all $files images cleaned" ||
		fail "clean-$px" "$(head -n 2 "$T/clean.err")"
	(cd "$T/out" && "$FIONA" ocr *.dcm) >"$T/out.ocr" 2>>"$T/ocr.err"
	left=$(found "$T/out.ocr")
	[ "$left" -eq 0 ] && pass "$px px: OCR of the cleaned images reads none of the planted tokens" ||
		fail "left-$px" "$left planted tokens still read"
	bad=0
	for f in "$T"/out/*.dcm; do dcmdump -q "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
	[ $bad -eq 0 ] && pass "$px px: dcmdump reads every cleaned image" || fail "dcmdump-$px" "$bad files"
done
# Compressed input, decoded by dcmtk's codecs and written uncompressed: JPEG baseline,
# JPEG lossless, JPEG-LS and RLE, made by dcmtk's own encoders from the 14 px images; and
# JPEG 2000 (decoded by OpenJPEG), made by j2k_encap with OpenJPEG's encoder: lossless
# (.90, reversible 5/3, colour as YBR_RCT) and lossy (.91, irreversible 9/7 at 10:1, colour
# as YBR_ICT) of the 8-bit, 16-bit, RGB and cine images, the lossless cine in two fragments
# per frame with an offset table, the lossy one without a table, and one frame as JP2.
rm -rf "$T/in" "$T/out" "$T/src" && mkdir -p "$T/in" "$T/out"
"$GEN" -o "$T/src" --px 14
for k in mono2-8 rgb ybr-full; do
	dcmcjpeg "$T/src/$k.dcm" "$T/in/$k-jpeg.dcm" 2>/dev/null
	dcmcjpls "$T/src/$k.dcm" "$T/in/$k-jpegls.dcm" 2>/dev/null
	dcmcrle "$T/src/$k.dcm" "$T/in/$k-rle.dcm" 2>/dev/null
done
dcmcjpeg +e1 "$T/src/mono2-16.dcm" "$T/in/mono2-16-jpeg-lossless.dcm" 2>/dev/null
for k in mono2-8 mono2-16 rgb; do
	"$J2K" "$T/src/$k.dcm" "$T/in/$k-j2k.dcm"
	"$J2K" --lossy 10 "$T/src/$k.dcm" "$T/in/$k-j2k-lossy.dcm"
done
"$J2K" --split 2 "$T/src/rgb-cine.dcm" "$T/in/rgb-cine-j2k.dcm"
"$J2K" --lossy 10 --no-bot "$T/src/rgb-cine.dcm" "$T/in/rgb-cine-j2k-lossy.dcm"
"$J2K" --jp2 "$T/src/mono2-8.dcm" "$T/in/mono2-8-j2k-jp2.dcm"
j2k=0
for f in "$T"/in/*-j2k*.dcm; do
	dcmdump -q +P 0002,0010 "$f" 2>/dev/null | grep -q JPEG2000 && j2k=$((j2k + 1))
done
files=$(ls "$T"/in/*.dcm | wc -l)
(cd "$T/in" && "$FIONA" ocr *.dcm) >"$T/in.ocr" 2>"$T/ocr.err"
got=$(found "$T/in.ocr"); want=$((files * 4))
got_j2k=$(found "$T/in.ocr" "*-j2k*"); want_j2k=$((j2k * 4))
"$FIONA" ocr --clean "$T/out" "$T"/in/*.dcm >"$T/clean.out" 2>"$T/clean.err"
(cd "$T/out" && "$FIONA" ocr *.dcm) >"$T/out.ocr" 2>>"$T/ocr.err"
left=$(found "$T/out.ocr"); left_j2k=$(found "$T/out.ocr" "*-j2k*")
native=0
for f in "$T"/out/*.dcm; do
	dcmdump -q +P 0002,0010 "$f" 2>/dev/null | grep -q LittleEndianExplicit && native=$((native + 1))
done
if [ "$files" -eq 19 ] && [ $((got * 100)) -ge $((want * 90)) ] && [ "$left" -eq 0 ] && [ $native -eq 19 ]; then
	pass "compressed input (JPEG, JPEG lossless, JPEG-LS, RLE, JPEG 2000): $got of $want tokens read before, none after, written uncompressed"
else
	fail compressed "$files inputs, $got of $want read before, $left after, $native uncompressed ($(head -n 1 "$T/clean.err"))"
fi
if [ "$j2k" -eq 9 ] && [ $((got_j2k * 100)) -ge $((want_j2k * 90)) ] && [ "$left_j2k" -eq 0 ]; then
	pass "JPEG 2000 input (.90 and .91; 8, 16 bit, RGB, cine, JP2): $got_j2k of $want_j2k tokens read before, none after"
else
	fail j2k "$j2k JPEG 2000 inputs, $got_j2k of $want_j2k read before, $left_j2k after ($(grep -i 'JPEG 2000' "$T/clean.err" | head -n 1))"
fi
# Through fiona anonymize (what de-identification does with candidates): the cleaned
# output's OCR reads none of the planted tokens and its header says the pixels were cleaned.
(umask 077; head -c 32 /dev/urandom >"$T/secret")
rm -rf "$T/in" && mv "$T/src" "$T/in"
"$FIONA" anonymize -o "$T/anon" --project PROJ01 --participant PROJ01-0001 --secret "$T/secret" \
	"$T"/in/*.dcm >/dev/null 2>"$T/anon.err"
(cd "$T/anon" && "$FIONA" ocr $(ls "$T/in" | grep '\.dcm$')) >"$T/anon.ocr" 2>>"$T/ocr.err"
left=$(found "$T/anon.ocr")
marked=0
for f in "$T"/anon/*.dcm; do
	dcmdump -q +P 0028,0301 "$f" | grep -q '\[NO\]' && dcmdump -q "$f" | grep -q '\[113101\]' &&
		marked=$((marked + 1))
done
[ "$left" -eq 0 ] && [ "$marked" -eq "$(ls "$T"/in/*.dcm | wc -l)" ] &&
	pass "fiona anonymize cleans every candidate: none of the planted tokens read, $marked marked NO/113101" ||
	fail anonymize "$left tokens read, $marked marked ($(tail -n 1 "$T/anon.err"))"
exit $failed
