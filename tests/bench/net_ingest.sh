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
# Part-10 files only (a corpus folder may hold an index or manifest too)
find "$dir" -type f | sort | while read -r f; do
	[ "$(dd if="$f" bs=1 skip=128 count=4 2>/dev/null)" = DICM ] && echo "$f"
done >"$t/all"
n=$(wc -l <"$t/all")
# storescu proposes one fixed set of transfer syntaxes; a config file with one context per
# (SOP class, transfer syntax) pair of the folder lets it send every file as it is.
while read -r f; do
	dcmdump -q -s +P 0002,0002 +P 0002,0010 "$f" | sed 's/.*\[\(.*\)\].*/\1/;s/.*=\([^ ]*\).*/\1/' |
		paste -sd ' '
done <"$t/all" | sort -u >"$t/pairs"
awk 'BEGIN { print "[[TransferSyntaxes]]" }
     { ts[$2] = 1; pc[NR] = $1 "\\T" $2 }
     END {
	for (k in ts) printf "[T%s]\nTransferSyntax1 = %s\n", k, k
	print "[[PresentationContexts]]\n[Bench]"
	for (i = 1; i <= NR && i <= 128; i++) printf "PresentationContext%d = %s\n", i, pc[i]
	print "[[Profiles]]\n[Bench]\nPresentationContexts = Bench"
     }' "$t/pairs" >"$t/storescu.cfg"
half=$(((n + 1) / 2))
head -n "$half" "$t/all" >"$t/a"
tail -n +"$((half + 1))" "$t/all" >"$t/b"
now() { date +%s.%N; }
send() { # list
	[ -s "$1" ] || return 0
	xargs storescu -xf "$t/storescu.cfg" Bench -aet BENCH -aec "$aec" "$host" "$port" <"$1" 2>"$t/err.$(basename "$1")"
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
