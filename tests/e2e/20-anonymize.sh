#!/bin/sh
# fiona anonymize over the tiny synthetic corpus (every transfer syntax, nested sequences,
# a private block, burned-in secondary captures): no planted identifier survives, every
# output reads back with dcmdump and fiona dump, dciodvfy finds no error the input did not
# have, pixel data is unchanged, two runs are byte-identical, UIDs and references stay
# consistent, dates move by one offset per participant, bad files are reported by name
# while the rest is done, a secret others can read is refused, the coupling maps go to
# a 0700 folder outside the output (OUT.maps, or --maps; one inside OUT is refused), and
# free text about the patient is removed while the descriptions of the examination stay.
set -u
BUILD=${BUILD:-build}
FIONA=$BUILD/fiona
GEN=$BUILD/tools/gen_corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS anonymize/$1"; }
fail() { echo "FAIL anonymize/$1: $2"; failed=1; }

"$GEN" --preset tiny --seed 1 -o "$T/in" 2>/dev/null || { fail generate "gen_corpus failed"; exit 1; }
(umask 077; head -c 32 /dev/urandom >"$T/secret")

# One participant per corpus patient, as an administrator would assign them.
anonymize_all() { # outdir
	for p in "$T"/in/P0*; do
		n=${p##*/P0}
		"$FIONA" anonymize -o "$1" --project PROJ01 --participant "PROJ01-000$n" \
			--event baseline --secret "$T/secret" -j 2 "$p" 2>>"$T/anon.log" || return 1
	done
}
if anonymize_all "$T/out"; then pass run; else fail run "$(tail -n 3 "$T/anon.log")"; fi
(cd "$T/in" && find . -name '*.dcm' | sort) >"$T/files"
(cd "$T/out" && find . -name '*.dcm' | sort) >"$T/outfiles"
if cmp -s "$T/files" "$T/outfiles"; then pass layout
else fail layout "output files differ from input files"; fi

# Leak test: no planted string anywhere in the output files (the maps, outside OUT, hold
# originals by design: they are for validation and readable by their owner only). fiona's own UIDs
# (2.25.<39 decimal digits of an HMAC>) are cut out first: a planted 6-digit time can
# occur inside one by chance (about once in three runs over this corpus), which is not a
# leak.
mkdir -p "$T/scrubbed"
(cd "$T/out" && find . -name '*.dcm') | while read -r f; do
	LC_ALL=C sed -e 's/2\.25\.[0-9]\{20,\}//g' "$T/out/$f" >"$T/scrubbed/$(echo "$f" | tr / _)"
done
cut -f2- "$T/in/manifest.txt" | sed '/^$/d' | sort -u >"$T/planted"
# one pass for all strings: each line says where a planted string was found
grep -roF -f "$T/planted" "$T/scrubbed" | sort -u >"$T/leaked"
leaks=$(cut -d: -f2- "$T/leaked" | sort -u | wc -l)
sed 's/^\([^:]*\):\(.*\)$/  leaked [\2] in \1/' "$T/leaked" | head -n 20
if [ "$leaks" -eq 0 ]; then pass "no-leak ($(wc -l <"$T/planted") planted strings)"
else fail no-leak "$leaks planted strings found in the output"; fi
rm -rf "$T/scrubbed"

# Private tags are gone; fiona's attributes are there.
bad=0
while read -r f; do
	d=$("$FIONA" dump "$T/out/$f") || { bad=$((bad + 1)); continue; }
	echo "$d" | grep -q '^ *([0-9a-fA-F]\{3\}[13579bBdDfF],' && bad=$((bad + 1))
	echo "$d" | grep -q '(0012,0062) CS \[YES\]' || bad=$((bad + 1))
	echo "$d" | grep -q '(0012,0064) SQ' || bad=$((bad + 1))
	echo "$d" | grep -q '(0028,0303) CS \[MODIFIED\]' || bad=$((bad + 1))
	echo "$d" | grep -q '(0010,0020) LO \[PROJ01-000[12]\]' || bad=$((bad + 1))
done <"$T/files"
if [ $bad -eq 0 ]; then pass attributes; else fail attributes "$bad files lack fiona's attributes or keep private tags"; fi

# Free text about the patient (every corpus file has PatientComments and
# AdditionalPatientHistory) is removed by the default profile although Clean Descriptors
# is on; the study and series descriptions and the protocol name stay, cleaned, non-empty.
bad=0; kept=0
desc='^(\(0008,1030\)|\(0008,103e\)|\(0018,1030\)) .. \[.'
while read -r f; do
	"$FIONA" dump "$T/out/$f" >"$T/d.out" 2>/dev/null || { bad=$((bad + 1)); continue; }
	grep -qiE '^ *\((0010,4000|0010,21b0)\)' "$T/d.out" && { bad=$((bad + 1)); echo "  $f: patient free text kept"; }
	want=$("$FIONA" dump "$T/in/$f" 2>/dev/null | grep -ciE "$desc")
	got=$(grep -ciE "$desc" "$T/d.out")
	[ "$got" -eq "$want" ] || { bad=$((bad + 1)); echo "  $f: $got of $want descriptions kept"; }
	kept=$((kept + got))
done <"$T/files"
if [ $bad -eq 0 ] && [ $kept -gt 0 ]; then pass "patient free text removed ($kept study/series/protocol descriptions kept)"
else fail patient-text "$bad files ($kept descriptions kept)"; fi

# dcmdump reads every output without a warning; dciodvfy adds no error.
bad=0; newerr=0
while read -r f; do
	dcmdump -q "$T/out/$f" >/dev/null 2>"$T/dd.err" && [ ! -s "$T/dd.err" ] || bad=$((bad + 1))
	grep -q "${f#./}	[^	]*	1.2.840.10008.1.2.1.99" "$T/in/index.tsv" && continue
	dciodvfy "$T/in/$f" 2>&1 | grep '^Error' | sed 's/ - .*//' | sort -u >"$T/e.in"
	dciodvfy "$T/out/$f" 2>&1 | grep '^Error' | sed 's/ - .*//' | sort -u >"$T/e.out"
	n=$(comm -13 "$T/e.in" "$T/e.out" | wc -l)
	[ "$n" -gt 0 ] && { newerr=$((newerr + 1)); echo "  $f: $(comm -13 "$T/e.in" "$T/e.out" | head -n 1)"; }
done <"$T/files"
if [ $bad -eq 0 ]; then pass dcmdump; else fail dcmdump "$bad outputs not read cleanly by dcmdump"; fi
if [ $newerr -eq 0 ]; then pass dciodvfy; else fail dciodvfy "$newerr outputs with new errors"; fi

# Pixel data equals the input's in every transfer syntax (big endian swapped, deflated
# inflated), but for burned-in text candidates (the secondary-capture dose pages): their
# pixels are cleaned, and the output says so (BurnedInAnnotation NO, code 113101).
pixels() { # file -> checksum of its pixel data as dcmdump writes it out
	rm -rf "$T/px"; mkdir -p "$T/px"
	dcmdump -q +W "$T/px" "$1" >/dev/null 2>&1
	cat "$T/px"/* 2>/dev/null | cksum
}
bad=0
cleaned=0
while read -r f; do
	dcmconv +te "$T/in/$f" "$T/le.dcm" 2>/dev/null || cp "$T/in/$f" "$T/le.dcm"
	if dcmdump -q +P 0008,0016 +P 0028,0301 "$T/in/$f" 2>/dev/null |
		grep -qE '=SecondaryCaptureImageStorage|\[YES\]'; then
		if [ "$(pixels "$T/le.dcm")" != "$(pixels "$T/out/$f")" ] &&
			dcmdump -q +P 0028,0301 "$T/out/$f" | grep -q '\[NO\]' &&
			dcmdump -q "$T/out/$f" | grep -q '\[113101\]'; then
			cleaned=$((cleaned + 1))
		else
			bad=$((bad + 1)); echo "  $f: a candidate not cleaned or not marked"
		fi
		continue
	fi
	[ "$(pixels "$T/le.dcm")" = "$(pixels "$T/out/$f")" ] || { bad=$((bad + 1)); echo "  $f: pixel data differs"; }
done <"$T/files"
if [ $bad -eq 0 ] && [ $cleaned -gt 0 ]; then pass "pixel data (equal; $cleaned burned-in candidates cleaned and marked)"
else fail pixel-data "$bad files ($cleaned cleaned)"; fi

# Same input, same secret: byte-identical output, maps included.
anonymize_all "$T/again" && diff -r "$T/out" "$T/again" >/dev/null &&
	diff -r "$T/out.maps" "$T/again.maps" >/dev/null
if [ $? -eq 0 ]; then pass deterministic; else fail deterministic "second run differs"; fi

# UIDs: one new StudyInstanceUID per study, MediaStorageSOPInstanceUID follows
# SOPInstanceUID, every reference points to an instance of the output.
tag() { dcmdump -q +P "$2" "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p'; }
bad=0
for st in $(cd "$T/in" && find . -mindepth 2 -maxdepth 2 -type d | sort); do
	n=$(for f in $(cd "$T/out" && find "$st" -name '*.dcm'); do tag "$T/out/$f" 0020,000d; done | sort -u | wc -l)
	[ "$n" -eq 1 ] || { bad=$((bad + 1)); echo "  $st: $n study UIDs"; }
done
while read -r f; do # MediaStorageSOPInstanceUID, then SOPInstanceUID
	set -- $(dcmdump -q +P 0002,0003 +P 0008,0018 "$T/out/$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p')
	[ $# -eq 2 ] && [ "$1" = "$2" ] || bad=$((bad + 1))
	case ${2:-} in 2.25.*) ;; *) bad=$((bad + 1)) ;; esac
done <"$T/files"
if [ $bad -eq 0 ]; then pass uids; else fail uids "$bad files with several study UIDs or a wrong meta UID"; fi

# References: the basic profile removes the corpus's reference sequences; a project profile
# that keeps them must get every ReferencedSOPInstanceUID mapped like the instance's own.
cat >"$T/refs.json" <<'EOF'
{ "tags": { "(0008,1110)": {"action": "keep"}, "(0008,1111)": {"action": "keep"} } }
EOF
"$FIONA" anonymize -o "$T/rout" --project PROJ01 --participant PROJ01-0001 --secret "$T/secret" \
	--profile "$T/refs.json" "$T/in/P01" 2>>"$T/anon.log"
nref=0; bad=0
for f in $(cd "$T/in" && find P01 -name '*.dcm' | sort); do
	tag "$T/in/$f" 0008,1155 >"$T/r.in"; tag "$T/rout/$f" 0008,1155 >"$T/r.out"
	[ -s "$T/r.in" ] || continue
	paste -d, "$T/r.in" "$T/r.out" >"$T/r.pairs"
	nref=$((nref + $(wc -l <"$T/r.pairs")))
	while read -r pair; do grep -qx "$pair" "$T/rout.maps/uid-map.csv" || bad=$((bad + 1)); done <"$T/r.pairs"
done
n_new=$(cd "$T/rout" && for f in $(find P01 -name '*.dcm'); do tag "$f" 0008,1155; done | sort -u | wc -l)
n_old=$(cd "$T/in" && for f in $(find P01 -name '*.dcm'); do tag "$f" 0008,1155; done | sort -u | wc -l)
if [ "$nref" -gt 0 ] && [ $bad -eq 0 ] && [ "$n_new" -eq "$n_old" ]; then
	pass "references ($nref references, $n_old distinct, all mapped consistently)"
else fail references "$bad of $nref references not mapped like uid-map.csv, $n_old -> $n_new distinct"; fi

# The maps are not in OUT (scp -r OUT must not ship the coupling list) but in OUT.maps
# (0700, files 0600), and the terminal says where; uid-map.csv maps each original UID to
# the one in the output.
orig=$(tag "$T/in/$(head -n 1 "$T/files")" 0008,0018)
new=$(tag "$T/out/$(head -n 1 "$T/files")" 0008,0018)
extra=$(find "$T/out" -type f ! -name '*.dcm' | head -n 1)
if [ -z "$extra" ] && grep -qx "$orig,$new" "$T/out.maps/uid-map.csv" &&
	head -n 1 "$T/out.maps/patient-map.csv" | grep -qx 'id_old,id_new' &&
	grep -q ',PROJ01-0001$' "$T/out.maps/patient-map.csv" &&
	[ "$(stat -c %a "$T/out.maps")" = 700 ] && [ "$(stat -c %a "$T/out.maps/uid-map.csv")" = 600 ] &&
	[ "$(stat -c %a "$T/out.maps/patient-map.csv")" = 600 ] &&
	grep -q "maps (original identifiers) in $(cd "$T" && pwd -P)/out.maps" "$T/anon.log"; then
	pass "maps (in OUT.maps 0700, files 0600, none in OUT)"
else fail maps "in OUT: ${extra:-nothing}; OUT.maps: $(ls -ld "$T/out.maps" 2>&1)"; fi

# --maps DIR puts them there (and makes no OUT.maps); a DIR inside OUT is refused before
# anything is written.
one=$(head -n 1 "$T/files")
"$FIONA" anonymize -o "$T/mo" --maps "$T/keys/p1" --project PROJ01 --participant PROJ01-0001 \
	--secret "$T/secret" "$T/in/$one" 2>"$T/mo.err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$T/keys/p1/uid-map.csv" ] && [ -s "$T/keys/p1/patient-map.csv" ] &&
	[ "$(stat -c %a "$T/keys/p1")" = 700 ] && [ ! -e "$T/mo.maps" ] &&
	[ -z "$(find "$T/mo" -type f ! -name '*.dcm')" ]; then pass "--maps DIR"
else fail --maps "exit $rc; $(tail -n 2 "$T/mo.err" | tr '\n' ' ')"; fi
"$FIONA" anonymize -o "$T/mi" --maps "$T/mi/sub/../maps" --project PROJ01 --participant PROJ01-0001 \
	--secret "$T/secret" "$T/in/$one" 2>"$T/mi.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'inside the output' "$T/mi.err" && [ -z "$(find "$T/mi" -type f 2>/dev/null)" ]; then
	pass "--maps inside OUT refused"
else fail --maps-inside "exit $rc; $(head -n 1 "$T/mi.err"); $(find "$T/mi" -type f 2>/dev/null | head -n 2)"; fi
mkdir -m 755 "$T/openmaps"
if "$FIONA" anonymize -o "$T/mp" --maps "$T/openmaps" --project PROJ01 --participant PROJ01-0001 \
	--secret "$T/secret" "$T/in/$one" 2>"$T/mp.err" || ! grep -q 'chmod 700' "$T/mp.err"; then
	fail --maps-mode "a maps folder others can open was used ($(head -n 1 "$T/mp.err"))"
else pass "--maps folder others can open refused"; fi

# Dates: one offset per participant, 1-10 years into the past.
days() { echo $((($(date -u -d "$2" +%s) - $(date -u -d "$1" +%s)) / 86400)); }
bad=0
for p in P01 P02; do
	grep "^$p/" "$T/in/index.tsv" | cut -f1 | while read -r f; do
		days "$(tag "$T/in/$f" 0008,0020)" "$(tag "$T/out/$f" 0008,0020)" 2>/dev/null
	done | sort -u >"$T/off.$p"
	off=$(cat "$T/off.$p")
	[ "$(wc -l <"$T/off.$p")" -eq 1 ] && [ "$off" -le -365 ] && [ "$off" -ge -3650 ] || bad=$((bad + 1))
done
if [ $bad -eq 0 ] && ! cmp -s "$T/off.P01" "$T/off.P02"; then pass "date-offset ($(cat "$T/off.P01"), $(cat "$T/off.P02") days)"
else fail date-offset "offsets: $(cat "$T/off.P01" "$T/off.P02" | tr '\n' ' ')"; fi

# Bad inputs are named with a reason; the good files are still written.
mkdir -p "$T/mixed"
first=$(head -n 1 "$T/files")
cp "$T/in/$first" "$T/mixed/good.dcm"
head -c 3000 "$T/in/$first" >"$T/mixed/truncated.dcm"
echo "not dicom" >"$T/mixed/notes.txt"
"$FIONA" anonymize -o "$T/mout" --project PROJ01 --participant PROJ01-0001 \
	--secret "$T/secret" "$T/mixed" 2>"$T/mixed.err"
rc=$?
if [ $rc -eq 1 ] && [ -f "$T/mout/mixed/good.dcm" ] && grep -q 'truncated.dcm: offset [0-9]' "$T/mixed.err" &&
	grep -q 'notes.txt' "$T/mixed.err" && [ ! -e "$T/mout/mixed/truncated.dcm" ]; then pass bad-files
else fail bad-files "exit $rc; $(head -n 2 "$T/mixed.err" | tr '\n' ' ')"; fi

chmod 644 "$T/secret"
if "$FIONA" anonymize -o "$T/sout" --project PROJ01 --participant PROJ01-0001 \
	--secret "$T/secret" "$T/mixed/good.dcm" 2>"$T/s.err"; then
	fail secret-mode "a group/world-readable secret was accepted"
else pass secret-mode; fi

exit $failed
