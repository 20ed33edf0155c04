#!/bin/sh
# Zip exports and readable series names on a real FUSE mount: a study assigned with mv
# shows its series folders as <SeriesNumber>_<description> from the de-identified
# SeriesDescription, and export/<P>/<ID>/<EVENT>.zip appears once every CRC is kept; it
# passes unzip -t, Python's zipfile and bsdtar; its entries are byte-identical to the files
# of the event folder; stat size == bytes read; random preads agree with a full read; a
# restart gives the same bytes.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
e2e_gateway_init zip
chmod 755 "$T"
[ -e /dev/fuse ] || { echo "SKIP zip: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP zip: allow_other needs root here"; exit 0; }
command -v fusermount3 >/dev/null || { echo "SKIP zip: fusermount3 missing"; exit 0; }
command -v unzip >/dev/null || { echo "SKIP zip: unzip missing (make deps)"; exit 0; }

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
# export/ removes SeriesDescription: its series folders must be named without it.
echo '{ "options": ["CleanDescriptors"], "tags": { "(0008,103E)": { "action": "remove" } } }' >"$T/export.json"
sed -i "s#\"destination\": \"research\"#\"destination\": \"research\", \"export_profile\": \"$T/export.json\"#" "$T/fiona.json"
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" 2>"$T/import.log" || fail import "$(tail -n 1 "$T/import.log")"
fiona_start "$T"
fiona_wait_quarantine "$T" 3
Q=$M/quarantine; P=$M/projects/PROJ01; X=$M/export/PROJ01
set -- $(ls "$Q")
[ $# -ge 2 ] || { fail quarantine "$# studies listed ($(tail -n 2 "$T/serve.log"))"; exit 1; }
mkdir "$P/PROJ01-0001" && mv "$Q/$1" "$P/PROJ01-0001/baseline" && mv "$Q/$2" "$P/PROJ01-0001/baseline" &&
	pass "mv assigns two studies to one event" || fail mv "mv failed"
ready() { grep -q "files: \([0-9]*\) of \1 de-identified" "$1/.status"; }
i=0; while ! { ready "$P/PROJ01-0001/baseline" && ready "$X/PROJ01-0001/baseline"; } && [ $i -lt 600 ]; do
	sleep 0.1; i=$((i + 1)); done

# Readable names: from the de-identified description, never an original value.
names=$(cd "$P/PROJ01-0001/baseline" && ls -d */*/)
echo "$names" | grep -q '^[A-Z][A-Z]*/[0-9][0-9]*_[A-Za-z0-9]' && ! echo "$names" | grep -q '^\([A-Z]*\)/[0-9]*_\1/$' &&
	pass "series folders are named from their description ($(echo "$names" | head -n 1))" ||
	fail names "$(echo "$names" | tr '\n' ' ')"
bad=0
for d in $names; do
	f=$(ls "$P/PROJ01-0001/baseline/$d" | head -n 1)
	[ -n "$f" ] || continue
	desc=$(dcmdump -q +P 0008,103e "$P/PROJ01-0001/baseline/$d/$f" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p' | tr ' ' '_')
	want=$(basename "$d")
	[ -z "$desc" ] || [ "${want#*_}" = "$desc" ] || [ "${want#*_}" = "${desc%%~*}" ] || case "$want" in *"$desc"~*) ;; *) bad=$((bad + 1)) ;; esac
done
[ $bad -eq 0 ] && pass "each name is the description its files carry" || fail names-desc "$bad folders differ"
awk -F '\t' '$1 != "date" && $1 != "time" { print $2 }' "$T/c/manifest.txt" | tr ' ' '_' | sort -u >"$T/planted"
echo "$names" | tr '/' '\n' | sed 's/^[0-9]*_//' | grep -v '^$' | sort -u >"$T/names"
leak=$(grep -cFf "$T/planted" "$T/names" 2>/dev/null; true)
[ -s "$T/planted" ] && [ "${leak:-0}" -eq 0 ] && pass "no planted string in a series name" ||
	fail names-leak "$leak names hold a planted string ($(grep -Ff "$T/planted" "$T/names" | head -n 2))"

xnames=$(cd "$X/PROJ01-0001/baseline" && ls -d */*/)
f=$(find "$X/PROJ01-0001/baseline" -name '*.dcm' | head -n 1)
if [ -n "$xnames" ] && [ "$xnames" != "$names" ] && ! dcmdump -q "$f" 2>/dev/null | grep -q '(0008,103e)' &&
	! echo "$xnames" | grep -q 'Thorax\|TSE'; then
	pass "a profile that removes SeriesDescription: names from labels ($(echo "$xnames" | tr '\n' ' '))"
else fail names-removed "export/: $(echo "$xnames" | tr '\n' ' ')"; fi

# The zip: listed once ready, exact size, valid, same bytes as the folder's files.
Z=$X/PROJ01-0001/baseline.zip
i=0; while [ ! -e "$Z" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$Z" ] && pass "baseline.zip listed" || { fail listed "no zip ($(ls "$X/PROJ01-0001"); $(tail -n 3 "$T/serve.log"))"; exit 1; }
[ ! -e "$P/PROJ01-0001/baseline.zip" ] && pass "no zip under projects/" || fail projects-zip "a zip under projects/"
size=$(stat -c %s "$Z"); cat "$Z" >"$T/full.zip"; got=$(stat -c %s "$T/full.zip")
[ "$size" -eq "$got" ] && [ "$size" -gt 0 ] && pass "stat size == bytes read ($size)" || fail size "stat $size, read $got"
unzip -tq "$T/full.zip" >"$T/unzip.log" 2>&1 && pass "unzip -t" || fail unzip-t "$(tail -n 3 "$T/unzip.log")"
unzip -tq "$Z" >/dev/null 2>&1 && pass "unzip -t on the mount" || fail unzip-mount "unzip -t of the mounted file failed"
nf=$(find "$X/PROJ01-0001/baseline" -name '*.dcm' | wc -l)
ne=$(unzip -Z1 "$T/full.zip" | wc -l)
[ "$nf" -eq "$ne" ] && [ "$nf" -gt 0 ] && pass "one entry per file ($ne)" || fail entries "$ne entries, $nf files"
bad=0
for e in $(unzip -Z1 "$T/full.zip"); do
	a=$(unzip -p "$T/full.zip" "$e" | cksum)
	b=$(cksum <"$X/PROJ01-0001/$e" 2>/dev/null)
	[ "$a" = "$b" ] || bad=$((bad + 1))
done
[ $bad -eq 0 ] && pass "entries byte-identical to the folder's files" || fail identical "$bad entries differ"
bad=0
for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
	bs=$(( (k * 7919) % 70000 + 1 )); off=$(( (k * 1000003) % size ))
	a=$(dd if="$Z" bs=1 skip="$off" count="$bs" iflag=skip_bytes,count_bytes 2>/dev/null | cksum)
	b=$(dd if="$T/full.zip" bs=1 skip="$off" count="$bs" iflag=skip_bytes,count_bytes 2>/dev/null | cksum)
	[ "$a" = "$b" ] || bad=$((bad + 1))
done
a=$(tail -c 100 "$Z" | cksum); b=$(tail -c 100 "$T/full.zip" | cksum)
[ "$a" = "$b" ] || bad=$((bad + 1))
[ $bad -eq 0 ] && pass "random preads agree with a full read" || fail pread "$bad ranges differ"
if python3 -c 'import zipfile' 2>/dev/null; then
	python3 -c 'import zipfile,sys; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)' "$Z" 2>"$T/py.log" &&
		pass "Python zipfile accepts it" || fail python "$(tail -n 1 "$T/py.log")"
else echo "SKIP zip/python: no python3 zipfile"; fi
if command -v bsdtar >/dev/null; then
	n=$(bsdtar -tf "$Z" 2>"$T/bsdtar.log" | wc -l)
	[ "$n" -eq "$ne" ] && bsdtar -xOf "$Z" >/dev/null 2>>"$T/bsdtar.log" && pass "bsdtar lists and extracts it" ||
		fail bsdtar "$n entries ($(tail -n 1 "$T/bsdtar.log"))"
else echo "SKIP zip/bsdtar: bsdtar missing (libarchive-tools, make deps)"; fi

# Same bytes after a restart (fixed timestamps, kept CRCs).
kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=
fiona_start "$T"
i=0; while [ ! -e "$Z" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
a=$(cksum <"$Z" 2>/dev/null); b=$(cksum <"$T/full.zip")
[ "$a" = "$b" ] && pass "same bytes after a restart" || fail restart "$a vs $b"

# Un-assigning the study removes its zip and the event.
mv "$P/PROJ01-0001/baseline" "$Q/" && sleep 1.5
[ ! -e "$Z" ] && pass "un-assigned: the zip is gone" || fail unassign "the zip is still listed"
exit $failed
