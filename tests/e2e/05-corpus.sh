#!/bin/sh
# The synthetic corpus generator (tests/gen/gen_corpus): the tiny preset must be valid
# DICOM for independent tools (dcmdump parses every file, dciodvfy finds no IOD errors,
# dcm2niix converts the MR series), deterministic for a seed, and its manifest and index
# must describe what was written: every planted string occurs in the files' bytes.
set -u
BUILD=${BUILD:-build}
gen=$BUILD/tools/gen_corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS corpus/$1"; }
fail() { echo "FAIL corpus/$1: $2"; failed=1; }

DEFLATED=1.2.840.10008.1.2.1.99

if [ ! -x "$gen" ]; then
	echo "FAIL corpus/build: $gen missing"
	exit 1
fi
out=$tmp/c
if "$gen" --preset tiny --seed 1 -o "$out" 2>"$tmp/gen.err"; then
	pass generate
else
	fail generate "exit status $? ($(tail -n 1 "$tmp/gen.err"))"
	exit 1
fi

# Same seed, same bytes; another seed, other bytes.
"$gen" --preset tiny --seed 1 -o "$tmp/again" 2>/dev/null
"$gen" --preset tiny --seed 2 -o "$tmp/other" 2>/dev/null
if diff -r "$out" "$tmp/again" >/dev/null && ! cmp -s "$out/manifest.txt" "$tmp/other/manifest.txt"
then pass deterministic
else fail deterministic "seed 1 twice differs, or seed 2 equals seed 1"
fi
rm -rf "$tmp/again" "$tmp/other"

# index.tsv: 8 columns, every file listed once, sizes right.
find "$out" -name '*.dcm' | sed "s|^$out/||" | sort >"$tmp/files"
cut -f1 "$out/index.tsv" | sort >"$tmp/listed"
bad=$(awk -F'\t' 'NF != 8 || ($8 != 0 && $8 != 1)' "$out/index.tsv" | wc -l)
sizes=$(while IFS='	' read -r f _ _ _ _ _ size _; do
	[ "$(wc -c <"$out/$f")" -eq "$size" ] || echo "$f"
done <"$out/index.tsv" | wc -l)
if [ -s "$tmp/files" ] && cmp -s "$tmp/files" "$tmp/listed" && [ "$bad" -eq 0 ] && [ "$sizes" -eq 0 ]
then pass index
else fail index "files vs index differ, $bad malformed lines, $sizes wrong sizes"
fi

# The mix the reader must handle: every transfer syntax, both sequence length styles,
# every SOP class, burned-in annotation flagged.
missing=
for ts in 1.2.840.10008.1.2 1.2.840.10008.1.2.1 1.2.840.10008.1.2.2 $DEFLATED 1.2.840.10008.1.2.5
do cut -f3 "$out/index.tsv" | grep -qx "$ts" || missing="$missing ts:$ts"
done
for cls in 1.2.840.10008.5.1.4.1.1.4 1.2.840.10008.5.1.4.1.1.4.1 1.2.840.10008.5.1.4.1.1.2 \
	1.2.840.10008.5.1.4.1.1.7
do cut -f2 "$out/index.tsv" | grep -qx "$cls" || missing="$missing class:$cls"
done
awk -F'\t' '$2 == "1.2.840.10008.5.1.4.1.1.7" && $8 != 1' "$out/index.tsv" | grep -q . &&
	missing="$missing burned_in"
if [ -z "$missing" ]; then pass mix; else fail mix "missing$missing"; fi

# dcmdump: exit 0 and no "E:" line for every file; both sequence length styles occur.
if command -v dcmdump >/dev/null; then
	errs=0
	: >"$tmp/dumps"
	while IFS='	' read -r f _; do
		if ! dcmdump -q "$out/$f" >"$tmp/d" 2>"$tmp/e" || grep -q '^E:' "$tmp/d" "$tmp/e"
		then errs=$((errs + 1)); echo "dcmdump: $f" >&2
		fi
		grep -o 'Sequence with [a-z]* length' "$tmp/d" >>"$tmp/dumps"
	done <"$out/index.tsv"
	styles=$(sort -u "$tmp/dumps" | wc -l)
	if [ "$errs" -eq 0 ] && [ "$styles" -eq 2 ]; then pass dcmdump
	else fail dcmdump "$errs files failed, $styles sequence length styles"
	fi
else
	echo "SKIP corpus/dcmdump: dcmdump not installed"
fi

# RLE Lossless: dcmtk's decoder accepts every encapsulated file and yields a full frame.
if command -v dcmdrle >/dev/null; then
	errs=0 n=0
	for f in $(awk -F'\t' '$3 == "1.2.840.10008.1.2.5" {print $1}' "$out/index.tsv"); do
		n=$((n + 1))
		if dcmdrle "$out/$f" "$tmp/raw.dcm" 2>"$tmp/e"; then
			want=$(dcmdump -q +P 0028,0010 +P 0028,0011 +P 0028,0100 "$tmp/raw.dcm" |
				awk '{v = v ? v * $3 : $3} END {print v / 8}')
			got=$(dcmdump -q +P 7fe0,0010 "$tmp/raw.dcm" | sed 's/.*# *\([0-9]*\),.*/\1/')
			[ "$want" = "$got" ] || { errs=$((errs + 1)); echo "rle size: $f" >&2; }
		else
			errs=$((errs + 1)); echo "dcmdrle: $f" >&2
		fi
	done
	if [ "$errs" -eq 0 ] && [ "$n" -gt 0 ]; then pass rle
	else fail rle "$errs of $n RLE files did not decode to a full frame"
	fi
else
	echo "SKIP corpus/rle: dcmdrle not installed"
fi

# dciodvfy: no errors in any IOD. It cannot read deflated files (it reads them as raw
# bytes), so those are left to dcmdump above.
if command -v dciodvfy >/dev/null; then
	errs=0 n=0
	while IFS='	' read -r f _ ts _; do
		[ "$ts" = "$DEFLATED" ] && continue
		n=$((n + 1))
		if dciodvfy "$out/$f" 2>&1 | grep -q 'Error'; then
			errs=$((errs + 1)); echo "dciodvfy: $f" >&2
			dciodvfy "$out/$f" 2>&1 | grep Error | head -n 5 >&2
		fi
	done <"$out/index.tsv"
	if [ "$errs" -eq 0 ] && [ "$n" -gt 0 ]; then pass dciodvfy
	else fail dciodvfy "$errs of $n files have IOD errors"
	fi
else
	echo "SKIP corpus/dciodvfy: dciodvfy not installed"
fi

# dcm2niix converts every MR series (classic and enhanced) to NIfTI.
if command -v dcm2niix >/dev/null; then
	mkdir -p "$tmp/nii"
	series=$(awk -F'\t' '$2 ~ /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.4(\.1)?$/ {sub("/[^/]*$", "", $1); print $1}' \
		"$out/index.tsv" | sort -u)
	ok=0 total=0
	for s in $series; do
		total=$((total + 1))
		name=$(echo "$s" | tr / _)
		dcm2niix -o "$tmp/nii" -f "$name" "$out/$s" >"$tmp/n.log" 2>&1 &&
			[ -s "$tmp/nii/$name.nii" ] && grep -q 'Convert [0-9]* DICOM' "$tmp/n.log" &&
			ok=$((ok + 1))
	done
	if [ "$total" -gt 0 ] && [ "$ok" -eq "$total" ]; then pass dcm2niix
	else fail dcm2niix "$ok of $total MR series converted"
	fi
else
	echo "SKIP corpus/dcm2niix: dcm2niix not installed"
fi

# manifest: tab-separated, known categories, every string (>= 4 bytes) in some file.
badline=$(awk -F'\t' 'NF != 2 || length($2) < 4' "$out/manifest.txt" | wc -l)
cats=$(cut -f1 "$out/manifest.txt" | sort -u | tr '\n' ' ')
absent=0
while IFS='	' read -r _ s; do
	grep -rqF -- "$s" "$out"/P* || { absent=$((absent + 1)); echo "absent: $s" >&2; }
done <"$out/manifest.txt"
need="accession address birthdate comment date device id institution name operator phone physician private time uid"
for c in $need; do
	case " $cats" in *" $c "*) ;; *) badline=$((badline + 1)); echo "no category $c" >&2 ;; esac
done
if [ "$badline" -eq 0 ] && [ "$absent" -eq 0 ]; then pass manifest
else fail manifest "$badline bad lines or missing categories, $absent strings absent from files"
fi

exit "$failed"
