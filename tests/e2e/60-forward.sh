#!/bin/sh
# Forwarding to a research PACS (Debian's Orthanc, started here from a temporary config):
# after `mv` assigns a study on the mount, Orthanc holds every instance de-identified
# (PatientID = participant, no planted identifier in any tag Orthanc reports, UIDs as on
# the mount), the study is verified by C-FIND and .status / fiona status say so; a PACS
# that is down when the study is assigned gets it once it is back; kill -9 of fiona during
# a send resumes after restart; a late series of a sent study is sent alone.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
T=$(mktemp -d)
M=$T/mnt
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	orthanc_stop
	fusermount3 -uz "$M" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS forward/$1"; }
fail() { echo "FAIL forward/$1: $2"; failed=1; }
[ -x "$ORTHANC_BIN" ] || { echo "SKIP forward: Orthanc missing"; exit 0; }
[ -e /dev/fuse ] && [ "$(id -u)" = 0 ] || { echo "SKIP forward: needs /dev/fuse and root"; exit 0; }

fiona_setup "$T" 7 || { fail generate "gen_corpus failed"; exit 1; }
"$FIONA" import -c "$T/fiona.json" "$T/c/P01" 2>/dev/null || fail import "import failed"
start() { fiona_start "$T"; }
orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || { fail orthanc "Orthanc did not start"; exit 1; }
start
fiona_wait_quarantine "$T" 3
Q=$M/quarantine; P=$M/projects/PROJ01
mkdir "$P/PROJ01-0001"
set -- $(ls "$Q")
[ $# -eq 3 ] || fail quarantine "$# studies in quarantine"
S1=$1; S2=$2; S3=$3
count() { n=$(find "$1" -name '*.dcm' | wc -l); echo "$n"; }
in_orthanc() { curl -sf "$ORTHANC_URL/instances" | tr ',' '\n' | grep -c '"'; }
wait_for() { # count seconds
	i=0; while [ "$(in_orthanc)" -lt "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(in_orthanc)" -ge "$1" ]
}

n1=$(count "$Q/$S1")
mv "$Q/$S1" "$P/PROJ01-0001/baseline" || fail mv "mv failed"
if wait_for "$n1" 30; then pass "study arrives in Orthanc ($n1 instances)"
else fail arrive "$(in_orthanc) of $n1 instances in Orthanc"; fi

# What Orthanc holds: participant ID, no planted string in any tag, the mount's UIDs.
cut -f2- "$T/c/manifest.txt" | sort -u >"$T/planted"
: >"$T/tags"
for id in $(curl -sf "$ORTHANC_URL/instances" | tr -d '[]" ' | tr ',' ' '); do
	curl -sf "$ORTHANC_URL/instances/$id/simplified-tags" >>"$T/tags"
	echo >>"$T/tags"
done
pids=$(grep -o '"PatientID" *: *"[^"]*"' "$T/tags" | sed 's/.*: *"//; s/"$//' | sort -u)
[ "$pids" = "PROJ01-0001" ] && pass "PatientID is the participant" || fail patient-id "got: $pids"
leaks=0
while IFS= read -r s; do grep -qF -- "$s" "$T/tags" && { leaks=$((leaks + 1)); echo "  leaked [$s]"; }; done <"$T/planted"
[ $leaks -eq 0 ] && pass "no planted string in Orthanc's tags" || fail no-leak "$leaks planted strings"
sop() { dcmdump -q +P 0008,0018 "$1" 2>/dev/null | sed -n 's/.*\[\(.*\)\].*/\1/p'; }
for f in $(find "$P/PROJ01-0001/baseline" -name '*.dcm'); do sop "$f"; done | sort >"$T/mount.uids"
grep -o '"SOPInstanceUID" *: *"[^"]*"' "$T/tags" | sed 's/.*: *"//; s/"$//' | sort >"$T/orthanc.uids"
cmp -s "$T/mount.uids" "$T/orthanc.uids" && pass "UIDs in Orthanc == UIDs on the mount" ||
	fail uids "$(comm -3 "$T/mount.uids" "$T/orthanc.uids" | wc -l) differ"

# Verification: .status and fiona status count what Orthanc holds.
i=0; while ! grep -q "$n1 verified" "$P/PROJ01-0001/baseline/.status" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "$n1 verified" "$P/PROJ01-0001/baseline/.status" && pass ".status shows $n1 verified" ||
	fail verified "$(cat "$P/PROJ01-0001/baseline/.status")"
v=$("$FIONA" status -c "$T/fiona.json" --json 2>/dev/null | sed -n 's/.*"verified": \([0-9]*\).*/\1/p')
[ "$v" = "$n1" ] && pass "fiona status: $v verified" || fail status "verified $v, want $n1"

# The PACS is down when the next study is assigned: it gets it when it is back.
orthanc_stop
n2=$(count "$Q/$S2")
mv "$Q/$S2" "$P/PROJ01-0001/followup" || fail mv2 "mv failed"
sleep 3
grep -q "failed\|queued" "$P/PROJ01-0001/followup/.status" && pass "PACS down: shown as waiting" ||
	fail down-status "$(cat "$P/PROJ01-0001/followup/.status")"
orthanc_start "$T/orthanc" 4242 8042 RESEARCH FIONA 11112 || fail orthanc2 "Orthanc did not restart"
# the first retry comes after about 5 s of backoff
if wait_for $((n1 + n2)) 40; then pass "everything arrives once the PACS is back"
else fail back "$(in_orthanc) of $((n1 + n2))"; fi

# kill -9 of fiona right after an assignment: resumes after restart.
n3=$(count "$Q/$S3")
mkdir "$P/PROJ01-0002"
mv "$Q/$S3" "$P/PROJ01-0002/baseline" && kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
start
if wait_for $((n1 + n2 + n3)) 40; then pass "kill -9 during a send: resumes, everything arrives"
else fail resume "$(in_orthanc) of $((n1 + n2 + n3))"; fi

# A late series of a sent study goes alone.
late=$(fiona_sql "$T" "SELECT i.hash FROM instances i JOIN series r ON i.series=r.id WHERE r.study=${S1##*_} LIMIT 1")
cp "$T/var/objects/$(echo "$late" | cut -c1-2)/$late.dcm" "$T/late.dcm"
dcmodify -nb -m "(0020,000E)=1.2.826.0.1.3680043.10.1401.77" \
	-m "(0008,0018)=1.2.826.0.1.3680043.10.1401.77.1" "$T/late.dcm" >/dev/null 2>&1
"$FIONA" import -c "$T/fiona.json" "$T/late.dcm" 2>/dev/null
if wait_for $((n1 + n2 + n3 + 1)) 30; then
	resent=$(fiona_sql "$T" "SELECT count(*) FROM transfers t JOIN instances i ON t.instance=i.id
		JOIN series r ON i.series=r.id WHERE r.study=${S1##*_} AND t.attempts > 1")
	[ "$resent" = 0 ] && pass "late series sent alone" || fail late "$resent instances were sent again"
else fail late "$(in_orthanc) instances in Orthanc"; fi
exit $failed
