#!/bin/sh
# The mount at the size make test can afford, under `ulimit -n 1024` (soft and hard, so
# the daemon cannot raise it): 3,000 routed instances read through projects/ one after
# the other and by 8 parallel readers, with no error and the same bytes as `fiona
# anonymize`; exact sizes after a profile change (stat size == bytes read == anonymize
# with the new profile); a differential test of the listings against catalog queries
# while studies arrive, are assigned, re-assigned and un-assigned in random order; changes
# by other processes (fiona import, fiona assign) reaching the running mount.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
SCALE=$(pwd)/$BUILD/tools/gen_scale
T=$(mktemp -d)
M=$T/mnt
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$M" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS scale/$1"; }
fail() { echo "FAIL scale/$1: $2"; failed=1; }
[ -e /dev/fuse ] || { echo "SKIP scale: no /dev/fuse on this machine"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "SKIP scale: allow_other needs root here"; exit 0; }

STUDIES=15 PER=200 N=3000
profile_line=
write_config() {
	cat >"$T/fiona.json" <<JSON
{ "data_dir": "$T/var", "mount_point": "$M", "secret_file": "$T/var/secret",
  "admin_group": "root",
  "dicom": { "aet": "FIONA", "bind": "127.0.0.1", "port": 11112, "allowed_callers": [] },
  "quiet_seconds": 1, "quarantine_days": 7, "disk_high_watermark": 0.99,
  "destinations": { "research": { "aet": "RESEARCH", "host": "127.0.0.1", "port": 4242,
                                  "calling_aet": "FIONA", "associations": 1 } },
  "projects": { "PROJ01": { "group": "root", "participant_pattern": "^PROJ01-[0-9]{4}\$",
                            "events": [ "baseline", "followup" ], "destination": "research",
                            $profile_line
                            "routing": [ { "patient_id": "^PROJ01-00[0-9][0-9]\$",
                                           "event": "baseline" } ] } } }
JSON
}
start() { # under ulimit -n 1024, soft and hard: the daemon cannot raise it
	touch "$T/serve.log"
	from=$(($(wc -l <"$T/serve.log") + 1)) # kept across restarts: this start's line
	(ulimit -n 1024 && exec "$FIONA" serve -c "$T/fiona.json") 2>>"$T/serve.log" &
	PID=$!
	i=0
	while ! tail -n +"$from" "$T/serve.log" | grep -q "mounted at" && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; }
mkdir -p "$T/var" && (umask 077; head -c 32 /dev/urandom >"$T/var/secret")
write_config
start
P=$M/projects/PROJ01
"$SCALE" send -j 4 --studies $STUDIES --per-study $PER 127.0.0.1 11112 FIONA >"$T/send.out" 2>&1 ||
	fail send "$(cat "$T/send.out")"
count() { find "$P" -name '*.dcm' 2>/dev/null | wc -l; }
i=0; while [ "$(count)" -lt $N ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(count)" -eq $N ] && pass "$N routed instances listed under projects/" ||
	fail routed "$(count) of $N listed"

# The same instances through fiona anonymize, participant by participant.
"$SCALE" files -o "$T/orig" --studies $STUDIES --per-study $PER
k=0
while [ $k -lt $STUDIES ]; do
	id=$(printf 'PROJ01-%04d' $k)
	"$FIONA" anonymize -o "$T/anon/$id" --project PROJ01 --participant "$id" --event baseline \
		--secret "$T/var/secret" "$T/orig/$(printf 's%07d' $k)" 2>>"$T/anon.log" >/dev/null
	k=$((k + 1))
done
(cd "$T/anon" && find . -name '*.dcm' -exec cksum {} + | awk '{print $1, $2}' | sort) >"$T/a.sums"
find "$P" -name '*.dcm' | sort >"$T/files"

# Sequential and 8 parallel readers, under the same ulimit: no error, same bytes.
(ulimit -n 1024 && xargs cksum <"$T/files") >"$T/seq.out" 2>"$T/seq.err"
awk '{print $1, $2}' "$T/seq.out" | sort >"$T/m.sums"
if [ -s "$T/seq.err" ]; then fail "sequential reads" "$(sort -u "$T/seq.err" | head -n 3)"
elif cmp -s "$T/a.sums" "$T/m.sums"; then pass "$N files read one after another == fiona anonymize"
else fail "sequential reads" "$(comm -3 "$T/a.sums" "$T/m.sums" | wc -l) files differ"; fi
(ulimit -n 1024 && xargs -P 8 -n 20 cksum <"$T/files") >"$T/par.out" 2>"$T/par.err"
awk '{print $1, $2}' "$T/par.out" | sort >"$T/p.sums"
if [ -s "$T/par.err" ]; then fail "parallel reads" "$(sort -u "$T/par.err" | head -n 3)"
elif cmp -s "$T/a.sums" "$T/p.sums"; then pass "$N files read by 8 parallel readers == fiona anonymize"
else fail "parallel reads" "$(comm -3 "$T/a.sums" "$T/p.sums" | wc -l) files differ"; fi
fds=$(ls /proc/"$PID"/fd | wc -l)
[ "$fds" -lt 100 ] && pass "descriptors back after the reads ($fds open)" ||
	fail descriptors "$fds descriptors open in the daemon"
bad=0
for f in $(awk 'NR % 100 == 1' "$T/files"); do
	[ "$(stat -c %s "$f")" -eq "$(wc -c <"$f")" ] || bad=$((bad + 1))
done
[ $bad -eq 0 ] && pass "stat size == bytes read (sampled)" || fail stat-size "$bad files differ"

# A profile change: every size is computed again under the new fingerprint and stays exact.
stop
cat >"$T/profile.json" <<JSON
{ "tags": { "(0008,0080)": { "action": "set", "value": "Institution of {project} at {event}, changed" } } }
JSON
profile_line="\"profile\": \"$T/profile.json\","
write_config
start
# (the new profile removes SeriesDescription: the series folder is named from its labels now)
f=
i=0; while [ ! -e "$f" ] && [ $i -lt 100 ]; do
	f=$(ls -d "$P/PROJ01-0003/baseline/MR/1_"* 2>/dev/null | head -n 1)/0007.dcm
	sleep 0.1; i=$((i + 1)); done
"$FIONA" anonymize -o "$T/anon2" --project PROJ01 --participant PROJ01-0003 --event baseline \
	--profile "$T/profile.json" --secret "$T/var/secret" "$T/orig/s0000003" >/dev/null 2>>"$T/anon.log"
a=$(cksum <"$T/anon2/s0000003/0007.dcm" 2>/dev/null)
b=$(cksum <"$f" 2>/dev/null)
old=$(cksum <"$T/anon/PROJ01-0003/s0000003/0007.dcm")
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$old" ] && [ "$(stat -c %s "$f")" -eq "$(wc -c <"$f")" ]; then
	pass "after a profile change: stat size == bytes read == anonymize with the new profile"
else
	fail profile-change "mount $b, anonymize $a, before $old ($(tail -n 2 "$T/serve.log"))"
fi
# Differential: the mount's listings against catalog queries, after every step of a random
# sequence of arrivals (into quarantine), assignments, re-assignments and un-assignments.
Q=$M/quarantine
DB=$T/var/catalog.db
expect_q() {
	sqlite3 "$DB" "SELECT study_date||'_'||accession||'_'||id FROM studies WHERE complete=1
		AND last_arrival >= strftime('%s','now') - 7*86400
		AND id NOT IN (SELECT study FROM assignments) ORDER BY 1"
}
expect_p() {
	sqlite3 "$DB" "SELECT a.participant||'/'||a.event||'/'||r.modality||'/'||r.number||'_'||
		r.modality||'/'||printf('%04d', i.number)||'.dcm' FROM assignments a
		JOIN series r ON r.study=a.study JOIN instances i ON i.series=r.id
		WHERE a.project='PROJ01' ORDER BY 1"
}
seen_q() { ls "$Q" | sort; }
seen_p() { (cd "$P" && find . -name '*.dcm' | sed 's|^\./||' | sort); }
agree() { # until the mount shows what the catalog says (arrival is asynchronous), 10 s
	i=0
	while [ $i -lt 100 ]; do
		expect_q >"$T/eq"; seen_q >"$T/sq"; expect_p >"$T/ep"; seen_p >"$T/sp"
		cmp -s "$T/eq" "$T/sq" && cmp -s "$T/ep" "$T/sp" && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
R=20261201
rnd() { # the next pseudo-random R / 65536, from a fixed seed: the same run every time
	R=$(( (R * 1103515245 + 12345) % 2147483648 ))
}
next_study=100 next_pid=5000 steps=0 bad_step= ops=
while [ $steps -lt 24 ]; do
	rnd; op=$(( (R / 65536) % 4 ))
	set -- $(ls "$Q"); nq=$#
	events=$(cd "$P" && find . -mindepth 2 -maxdepth 2 -type d | sed 's|^\./||' | sort)
	ne=$(echo "$events" | grep -c .)
	if [ "$op" -eq 0 ] || [ $nq -eq 0 ]; then # a study arrives (no routing rule matches it)
		NET_PROBE_AET=MODALITY "$SCALE" send --first $next_study --studies 1 --per-study 5 \
			127.0.0.1 11112 FIONA >/dev/null 2>&1
		what="arrival of study $next_study"; next_study=$((next_study + 1)); ops="$ops n"
		i=0 # until it has arrived (quiet for quiet_seconds)
		while [ "$(sqlite3 "$DB" 'SELECT count(*) FROM studies WHERE complete=0')" -gt 0 ] &&
			[ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	elif [ "$op" -eq 1 ]; then # mv quarantine/S projects/P/ID/EVENT
		rnd; s=$(eval echo "\${$(( (R / 65536) % nq + 1 ))}")
		{ mkdir "$P/PROJ01-$next_pid" && mv "$Q/$s" "$P/PROJ01-$next_pid/followup"; } 2>>"$T/mv.err"
		what="assignment of $s"; next_pid=$((next_pid + 1)); ops="$ops a"
	elif [ "$op" -eq 2 ] && [ $ne -gt 0 ]; then # re-assign an event to a new participant
		rnd; e=$(echo "$events" | sed -n "$(( (R / 65536) % ne + 1 ))p")
		{ mkdir "$P/PROJ01-$next_pid" && mv "$P/$e" "$P/PROJ01-$next_pid/baseline"; } 2>>"$T/mv.err"
		what="re-assignment of $e"; next_pid=$((next_pid + 1)); ops="$ops r"
	elif [ $ne -gt 0 ]; then # un-assign
		rnd; e=$(echo "$events" | sed -n "$(( (R / 65536) % ne + 1 ))p")
		mv "$P/$e" "$Q/" 2>>"$T/mv.err"
		what="un-assignment of $e"; ops="$ops u"
	else
		what=nothing
	fi
	steps=$((steps + 1))
	agree || { bad_step="step $steps ($what): $(diff "$T/eq" "$T/sq" | head -n 2) $(diff "$T/ep" "$T/sp" | head -n 2)"; break; }
done
tally() { echo "$ops" | tr ' ' '\n' | grep -c "^$1\$"; }
if [ -z "$bad_step" ] && [ ! -s "$T/mv.err" ] && [ "$(tally n)" -gt 0 ] && [ "$(tally a)" -gt 0 ] &&
	[ "$(tally r)" -gt 0 ] && [ "$(tally u)" -gt 0 ]; then
	pass "listings == catalog after each of $steps random steps ($(tally n) arrivals, $(tally a) assignments, $(tally r) re-assignments, $(tally u) un-assignments)"
else
	fail differential "$bad_step $(head -n 2 "$T/mv.err" 2>/dev/null) (ops:$ops)"
fi

# Changes made by other processes reach the running mount too: `fiona import` of new
# files and `fiona assign` from a script (the change feed is in the catalog).
"$SCALE" files -o "$T/late" --first 900 --studies 1 --per-study 4 --pid-prefix LATE
"$FIONA" import -c "$T/fiona.json" "$T/late" >/dev/null 2>>"$T/import.log"
i=0; while ! ls "$Q" | grep -q "_A900_" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
s=$(ls "$Q" | grep "_A900_")
if [ -n "$s" ] && "$FIONA" assign -c "$T/fiona.json" "${s##*_}" PROJ01 PROJ01-7000 followup 2>>"$T/mv.err" &&
	agree && [ -d "$P/PROJ01-7000/followup" ] && ! ls "$Q" | grep -q "_A900_"; then
	pass "fiona import and fiona assign from another process show in the mount"
else
	fail cross-process "import listed: ${s:-no}; $(diff "$T/ep" "$T/sp" | head -n 2)"
fi
exit $failed
