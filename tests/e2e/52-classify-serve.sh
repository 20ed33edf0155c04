#!/bin/sh
# Series labels in the running gateway: studies imported into `fiona serve`'s store are
# labelled by the default rules once they have arrived; the labels are in the catalog and
# in study.json on the mount. A rules file that does not load is logged by `fiona serve`
# (naming the rule set) and the gateway keeps receiving.
. "$(dirname "$0")/lib/orthanc.sh"
. "$(dirname "$0")/lib/fiona.sh"
netns_reexec "$0" "$@"
BUILD=${BUILD:-build}
T=$(mktemp -d)
M=$T/mnt
chmod 755 "$T"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	fusermount3 -uz "$M" 2>/dev/null
	fusermount3 -uz "$T/b/mnt" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS classify-serve/$1"; }
fail() { echo "FAIL classify-serve/$1: $2"; failed=1; }

fiona_setup "$T" 9 || { fail generate "gen_corpus failed"; exit 1; }

# A rules file with a reference cycle: serve logs it, names the rule set, keeps running.
mkdir -p "$T/b" && fiona_setup "$T/b" 9
printf '[{"type": "A", "id": "a", "rules": [{"rule": "a"}]}]\n' >"$T/cycle.json"
sed 's|"quiet_seconds"|"classify_rules": "'"$T"'/cycle.json", "quiet_seconds"|' "$T/b/fiona.json" >"$T/b/x" &&
	mv "$T/b/x" "$T/b/fiona.json"
fiona_start "$T/b"
sleep 0.5
if kill -0 "$PID" 2>/dev/null &&
	grep -q 'rule set 0 (id "a"): rules\[0\].rule: reference cycle' "$T/b/serve.log"
then pass bad-rules-logged
else fail bad-rules "$(tail -n 1 "$T/b/serve.log")"
fi
kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
PID=
fusermount3 -uz "$T/b/mnt" 2>/dev/null

"$FIONA" import -c "$T/fiona.json" "$T/c/P01" "$T/c/P02" 2>"$T/import.log" ||
	fail import "$(tail -n 1 "$T/import.log")"
fiona_start "$T"
# quiet_seconds is 1: arrival and classification follow within a few ticks.
i=0
while [ $i -lt 50 ]; do
	n=$(fiona_sql "$T" "SELECT count(*) FROM series WHERE labels<>''" 2>/dev/null)
	[ "${n:-0}" -ge 14 ] && break
	sleep 0.2; i=$((i + 1))
done
fiona_sql "$T" "SELECT description, labels FROM series" >"$T/labels"
bad=
grep -qx 'T1|MR,T1' "$T/labels" || bad="$bad T1"
grep -qx 'T2|MR,T2' "$T/labels" || bad="$bad T2"
grep -qx 'DWI|MR,DWI' "$T/labels" || bad="$bad DWI"
grep -qx 'T1 TSE enhanced|MR,T1,multiframe' "$T/labels" || bad="$bad enhanced"
if [ "${n:-0}" -eq 14 ] && [ -z "$bad" ]; then pass catalog-labels
else fail catalog-labels "${n:-0} of 14 labelled, wrong:$bad (log: $(tail -n 1 "$T/serve.log"))"
fi

if [ -e /dev/fuse ] && [ "$(id -u)" = 0 ] && command -v fusermount3 >/dev/null &&
	grep -q "mounted at" "$T/serve.log"; then
	# the mount follows the catalog a moment later (its next snapshot)
	i=0
	while [ $i -lt 25 ] && ! cat "$M"/quarantine/*/study.json 2>/dev/null | grep -q '"labels": *"MR,T1"'; do
		sleep 0.2; i=$((i + 1))
	done
	if cat "$M"/quarantine/*/study.json 2>/dev/null | grep -q '"labels": *"MR,T1"'
	then pass study.json
	else fail study.json "no MR,T1 labels in study.json"
	fi
else
	echo "SKIP classify-serve/study.json: no FUSE mount here"
fi
exit "$failed"
