#!/bin/sh
# Times storescu (dcmtk) sending every file of a folder to a C-STORE SCP, with one
# association and with two (storescu has no parallel mode: two processes on halves).
#   sh tests/bench/net_ingest.sh DIR HOST PORT CALLED_AET [LABEL]
# Prints two lines "LABEL assocs=1 files=N seconds=S" and "... assocs=2 ...".
# The receiver must be running already; the caller clears what it stored between runs
# if it wants cold runs. Exits non-zero if a storescu run fails.
set -u
[ $# -ge 4 ] || { echo "usage: $0 DIR HOST PORT CALLED_AET [LABEL]" >&2; exit 2; }
dir=$1 host=$2 port=$3 aec=$4 label=${5:-scp}
export TCP_NODELAY=1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
find "$dir" -type f | sort >"$t/all"
n=$(wc -l <"$t/all")
half=$(((n + 1) / 2))
head -n "$half" "$t/all" >"$t/a"
tail -n +"$((half + 1))" "$t/all" >"$t/b"
now() { date +%s.%N; }
# -R: propose only the files' own transfer syntaxes; +sd would scan dirs, we pass files.
send() { # list
	[ -s "$1" ] || return 0
	xargs storescu -R -xs -aet BENCH -aec "$aec" "$host" "$port" <"$1" 2>"$t/err.$(basename "$1")"
}
s=$(now)
send "$t/all" || { echo "$label: storescu failed: $(tail -1 "$t/err.all")" >&2; exit 1; }
e=$(now)
echo "$label assocs=1 files=$n seconds=$(echo "$e $s" | awk '{printf "%.3f", $1 - $2}')"
s=$(now)
send "$t/a" & p=$!
send "$t/b"; rb=$?
wait $p; ra=$?
e=$(now)
[ $ra -eq 0 ] && [ $rb -eq 0 ] || { echo "$label: storescu failed" >&2; exit 1; }
echo "$label assocs=2 files=$n seconds=$(echo "$e $s" | awk '{printf "%.3f", $1 - $2}')"
