#!/bin/sh
# make bench: every benchmark measures fiona next to the peer its issue names, in the
# same run, on the same files, and prints the ratio. Nothing here is a pass/fail test;
# targets are printed next to the ratios for a human to judge.
#   BENCH_DIR   where the generated corpus is cached (default ./var/bench)
#   BENCH_PRESET  corpus preset (default large; "small" for a quick look)
#   BENCH_ONLY    run one part: receive, dump, anonymize, burn, nifti, review, gateways
# Each part is a function; a part whose fiona side does not exist yet says so.
set -u
BUILD=${BUILD:-build}
BENCH_DIR=${BENCH_DIR:-./var/bench}
PRESET=${BENCH_PRESET:-large}
export TCP_NODELAY=1
CORPUS="$BENCH_DIR/corpus-$PRESET"
T=$(mktemp -d)
PIDS=
cleanup() { [ -n "$PIDS" ] && kill $PIDS 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 $1" | awk '{printf "%.3f", $1 - $2}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }'; }

corpus() {
	if [ ! -f "$CORPUS/index.tsv" ]; then
		echo "generating the $PRESET corpus into $CORPUS ..."
		rm -rf "$CORPUS" && mkdir -p "$BENCH_DIR" &&
			"$BUILD/tools/gen_corpus" --preset "$PRESET" --seed 1 -o "$CORPUS" || exit 1
	fi
	n=$(find "$CORPUS" -name '*.dcm' | wc -l)
	mb=$(du -sm "$CORPUS" | cut -f1)
	echo "corpus: $PRESET, $n files, $mb MB"
}

# Receiving: `fiona serve` (fsync of every instance, content hash, rename, fsync of the
# directory before success) next to dcmtk's storescp (no fsync), both fed by storescu
# with 1 and 2 associations. The catalog of issue 4 is not in this number yet.
bench_receive() {
	echo "== receive (storescu -> SCP): fiona serve with fsync vs storescp"
	mkdir -p "$T/rx1" "$T/serve"
	storescp +xa -aet PEER -od "$T/rx1" 11190 2>"$T/storescp.err" &
	PIDS="$PIDS $!"
	fiona=$(pwd)/$BUILD/fiona
	(cd "$T/serve" && exec "$fiona" serve) >"$T/serve.out" 2>&1 &
	PIDS="$PIDS $!"
	sleep 0.5
	i=0; while ! grep -q "C-STORE SCP" "$T/serve.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sh tests/bench/net_ingest.sh "$CORPUS" 127.0.0.1 11190 PEER storescp >"$T/peer.txt" || return 1
	sh tests/bench/net_ingest.sh "$CORPUS" 127.0.0.1 11112 FIONA fiona >"$T/fiona.txt" || return 1
	cat "$T/peer.txt" "$T/fiona.txt"
	for a in 1 2; do
		p=$(awk -v a="assocs=$a" '$2 == a { sub("seconds=", "", $4); print $4 }' "$T/peer.txt")
		f=$(awk -v a="assocs=$a" '$2 == a { sub("seconds=", "", $4); print $4 }' "$T/fiona.txt")
		echo "receive ratio assocs=$a: fiona/storescp time = $(ratio "$f" "$p") (target <= 1.25, i.e. rate >= 0.8x)"
	done
}

# Reader: `fiona dump` of every file next to `dcmdump` of the same files.
bench_dump() {
	echo "== dump (fiona dump vs dcmdump)"
	if ! "$BUILD/fiona" dump --help >/dev/null 2>&1 && ! "$BUILD/fiona" 2>&1 | grep -q dump; then
		echo "fiona dump not built yet: skipped"
		return 0
	fi
	find "$CORPUS" -name '*.dcm' | sort >"$T/files"
	s=$(now); xargs dcmdump -q <"$T/files" >/dev/null 2>&1; e=$(now); p=$(secs "$s" "$e")
	s=$(now); xargs "$BUILD/fiona" dump <"$T/files" >/dev/null 2>&1; e=$(now); f=$(secs "$s" "$e")
	echo "dcmdump ${p}s, fiona dump ${f}s, ratio $(ratio "$f" "$p")"
}

# De-identification (issue 3): fiona anonymize with 1 and 2 workers next to `cp -r` of the
# same corpus, gdcmanon (GDCM's PS3.15 E.1 de-identifier, with a throw-away certificate)
# and dcmodify doing 30 tag edits on a copy. Outputs go to the same filesystem; nothing
# is fsynced by any of them. Target: fiona -j2 <= 1.25x cp -r.
bench_anonymize() {
	echo "== anonymize (fiona anonymize vs cp -r, gdcmanon, dcmodify)"
	(umask 077; head -c 32 /dev/urandom >"$T/secret")
	set -- "$CORPUS"/P*
	mkdir -p "$T/warm" && cp -r "$@" "$T/warm" && rm -rf "$T/warm" # page cache warm for everyone
	# sync before each timed run: otherwise the previous run's dirty pages are written
	# back during the next one, and whoever runs second pays for both
	sync; s=$(now); mkdir -p "$T/cp" && cp -r "$@" "$T/cp"; e=$(now); c=$(secs "$s" "$e")
	rm -rf "$T/cp"
	for j in 1 2; do
		sync; s=$(now)
		"$BUILD/fiona" anonymize -o "$T/anon$j" --project BENCH1 --participant BENCH1-0001 \
			--secret "$T/secret" -j $j "$@" 2>"$T/anon.err" || { tail -n 2 "$T/anon.err"; return 1; }
		e=$(now); eval "f$j=$(secs "$s" "$e")"
		rm -rf "$T/anon$j" "$T/anon$j.maps"
	done
	echo "cp -r ${c}s, fiona -j1 ${f1}s (ratio $(ratio "$f1" "$c")), fiona -j2 ${f2}s (ratio $(ratio "$f2" "$c"); target <= 1.25)"
	if command -v gdcmanon >/dev/null && command -v openssl >/dev/null; then
		openssl req -x509 -newkey rsa:2048 -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
			-nodes -subj /CN=bench >/dev/null 2>&1
		mkdir -p "$T/gdcm"
		sync; s=$(now)
		for d in "$@"; do
			gdcmanon -e -c "$T/cert.pem" --continue -r -i "$d" -o "$T/gdcm/${d##*/}" >/dev/null 2>&1
		done
		e=$(now); g=$(secs "$s" "$e")
		echo "gdcmanon ${g}s: fiona -j2 / gdcmanon = $(ratio "$f2" "$g")"
		rm -rf "$T/gdcm"
	fi
	if command -v dcmodify >/dev/null; then
		mkdir -p "$T/mod" && cp -r "$@" "$T/mod"
		edits=""
		for t in 0010,0010 0010,0020 0010,0030 0010,1040 0010,2154 0010,4000 0010,21b0 \
			0008,0050 0008,0080 0008,0081 0008,0090 0008,0092 0008,0094 0008,1010 \
			0008,1040 0008,1048 0008,1050 0008,1060 0008,1070 0018,1000 0020,0010 \
			0032,4000 0020,4000 0040,0244 0040,0245 0040,0253 0008,0020 0008,0030 \
			0008,0021 0008,0031; do edits="$edits -ma ($t)="; done
		sync; s=$(now)
		find "$T/mod" -name '*.dcm' | xargs dcmodify -nb -q -imt $edits >/dev/null 2>&1
		e=$(now); m=$(secs "$s" "$e")
		echo "dcmodify (30 edits, in place) ${m}s: fiona -j2 / dcmodify = $(ratio "$f2" "$m")"
		rm -rf "$T/mod"
	fi
}

# Burned-in text (issue 12): seconds per distinct frame that `fiona ocr --clean` spends
# (two OCR scales, the check, on one core) at 640x480 and 1024x768, next to one pass of
# the tesseract command line over the same frame as PNG (what the original FIONA ran,
# first frame only); and what the feature costs a study without candidates: fiona
# anonymize of MR files only, default vs --keep-pixels.
bench_burn() {
	echo "== burned-in text (fiona ocr --clean vs one tesseract pass)"
	command -v tesseract >/dev/null && command -v dcmscale >/dev/null ||
		{ echo "tesseract or dcmscale missing: skipped"; return 0; }
	mkdir -p "$T/b640" "$T/b1024"
	for seed in 1 2; do
		"$BUILD/tools/gen_burned" -o "$T/g$seed" --px 14 --seed $seed >/dev/null || return 1
		for k in mono2-8 mono2-16 rgb palette ybr-full; do
			cp "$T/g$seed/$k.dcm" "$T/b640/$k-$seed.dcm"
			dcmscale --scale-x-size 1024 --scale-y-size 768 "$T/g$seed/$k.dcm" \
				"$T/b1024/$k-$seed.dcm" 2>/dev/null
		done
	done
	for d in b640 b1024; do
		n=$(ls "$T/$d" | wc -l)
		rm -rf "$T/clean"
		s=$(now); OMP_THREAD_LIMIT=1 "$BUILD/fiona" ocr --clean "$T/clean" "$T/$d"/*.dcm >/dev/null 2>&1
		e=$(now); f=$(secs "$s" "$e")
		for x in "$T/$d"/*.dcm; do dcmj2pnm +on "$x" "$x.png" 2>/dev/null; done
		s=$(now)
		for x in "$T/$d"/*.png; do OMP_THREAD_LIMIT=1 tesseract "$x" - >/dev/null 2>&1; done
		e=$(now); p=$(secs "$s" "$e")
		echo "${d#b}: $n frames; fiona $(echo "$f $n" | awk '{printf "%.3f", $1 / $2}') s/frame," \
			"tesseract one pass $(echo "$p $n" | awk '{printf "%.3f", $1 / $2}') s/frame," \
			"ratio $(ratio "$f" "$p") (target: at most 0.25 s/frame)"
	done
	(umask 077; head -c 32 /dev/urandom >"$T/secret")
	awk -v c="$CORPUS" '$2 == "1.2.840.10008.5.1.4.1.1.4" { print c "/" $1 }' "$CORPUS/index.tsv" |
		head -n 3000 >"$T/mr"
	mkdir -p "$T/mrin" && i=0 && while read -r x; do i=$((i + 1)); cp "$x" "$T/mrin/$i.dcm"; done <"$T/mr"
	for opt in --keep-pixels ""; do
		sync; s=$(now)
		"$BUILD/fiona" anonymize -o "$T/mro" --project BENCH1 --participant BENCH1-0001 \
			--secret "$T/secret" -j 1 $opt "$T/mrin" 2>"$T/mr.err"
		e=$(now); eval "t_${opt#--keep-}=$(secs "$s" "$e")"
		rm -rf "$T/mro" "$T/mro.maps"
	done
	echo "no candidates ($(wc -l <"$T/mr") files, $(tail -n 1 "$T/mr.err" | sed 's/.*; //')):" \
		"with cleaning ${t_}s, --keep-pixels ${t_pixels}s, ratio $(ratio "$t_" "$t_pixels") (target: 1.00)"
}

# NIfTI (issue 15): time from mv to nifti/ ready next to dcm2niix by hand (nifti.sh).
bench_nifti() {
	if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && unshare -n true 2>/dev/null; then
		unshare -n sh -c 'ip link set lo up && sh tests/bench/nifti.sh "$1"' sh "$CORPUS"
	else
		echo "== NIfTI: skipped (needs root, /dev/fuse and unshare -n)"
	fi
}

# Gateways on shared stores (issue 16): ingest and forwarding rates of one gateway on the
# embedded default, one on PostgreSQL + S3 and two on them (gateways.sh, which starts the
# servers of tests/scaleout/lib.sh in its own network namespace; skipped without them).
bench_gateways() {
	BUILD=$BUILD sh tests/bench/gateways.sh
}

# The review file (issue 15): a project of a million instances (5,000 studies of 200
# files) summarized and merged with fiona's own code (tests/gen/review_merge.c): bytes of
# summary per study and file, and the merge's time (what fs/review.c pays per change,
# at most once a second per project). No peer: the numbers go to docs/review.md.
bench_review() {
	echo "== review: per-study summaries and a million-instance merge"
	"$BUILD/tools/review_merge" "${REVIEW_STUDIES:-5000}" "${REVIEW_FILES:-200}"
}

corpus
if [ -n "${BENCH_ONLY:-}" ]; then # one part, e.g. BENCH_ONLY=anonymize
	"bench_$BENCH_ONLY"
	exit $?
fi
bench_receive || echo "receive benchmark failed"
bench_dump
bench_anonymize || echo "anonymize benchmark failed"
bench_burn || echo "burned-in text benchmark failed"
if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && unshare -n true 2>/dev/null; then
	unshare -n sh -c 'ip link set lo up && sh tests/bench/gateway.sh "$1"' sh "$CORPUS" ||
		echo "gateway benchmark failed"
else
	echo "== mount, forward: skipped (needs root, /dev/fuse and unshare -n)"
fi
bench_nifti || echo "NIfTI benchmark failed"
bench_gateways || echo "gateways benchmark failed"
bench_review || echo "review benchmark failed"
