#!/bin/sh
# fiona classify on the synthetic corpus: the default rules label its series sensibly,
# series-level rules see the instance count and every instance, output names paths and
# labels only (no UIDs), and a rules file with a reference cycle is refused by name.
set -u
BUILD=${BUILD:-build}
fiona=$BUILD/fiona
gen=$BUILD/tools/gen_corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export LC_ALL=C
failed=0
pass() { echo "PASS classify/$1"; }
fail() { echo "FAIL classify/$1: $2"; failed=1; }

if [ ! -x "$fiona" ] || [ ! -x "$gen" ]; then
	echo "FAIL classify/build: $fiona or $gen missing"
	exit 1
fi
c=$tmp/c
"$gen" --preset tiny --seed 5 -o "$c" 2>/dev/null || { echo "FAIL classify/gen: gen_corpus"; exit 1; }

if "$fiona" classify "$c" >"$tmp/out" 2>"$tmp/err"; then pass exit
else fail exit "status $? ($(head -n 1 "$tmp/err"))"
fi
want_dirs=$(find "$c" -name '*.dcm' -exec dirname {} \; | sort -u | wc -l)
got=$(wc -l <"$tmp/out")
if [ "$got" -eq "$want_dirs" ] && [ "$want_dirs" -gt 0 ]; then pass one-line-per-series
else fail one-line-per-series "$got lines for $want_dirs series folders"
fi

bad=
check() { # series-suffix labels
	grep -q "/$1	$2\$" "$tmp/out" || bad="$bad $1"
}
check ST1_MR/SE01_T1 MR,T1
check ST1_MR/SE02_T2 MR,T2
check ST1_MR/SE03_DWI MR,DWI
check ST2_CT/SE02_AXIAL CT
check ST3_MR/SE01_T1_ENH MR,T1,multiframe
grep -q "/SE99_DOSE_SC	CT,SC,burned-in" "$tmp/out" || bad="$bad DOSE_SC"
if [ -z "$bad" ]; then pass default-labels
else fail default-labels "wrong:$bad ($(head -n 3 "$tmp/out" | tr '\t\n' ' '))"
fi

if grep -q '1\.2\.' "$tmp/out"; then fail no-uids "output contains a UID"
else pass no-uids
fi

# Series level: the instance count, and a rule that must hold in every instance.
cat >"$tmp/rules.json" <<'JSON'
[{"type": "many", "rules": [{"check": "SeriesLevel", "tag": "NumberOfInstances",
   "operator": ">", "value": 2}]},
 {"type": "numbered", "rules": [{"check": "SeriesLevel", "tag": "InstanceNumber",
   "operator": ">", "value": 0}]},
 {"type": "first-only", "rules": [{"check": "SeriesLevel", "tag": [32, 19],
   "operator": "==", "value": 1}]}]
JSON
"$fiona" classify --rules "$tmp/rules.json" "$c" >"$tmp/sl" 2>"$tmp/err"
wrong=0
while IFS='	' read -r dir labels; do
	n=$(find "$dir" -maxdepth 1 -name '*.dcm' | wc -l)
	want=numbered
	[ "$n" -gt 2 ] && want=many,numbered
	[ "$n" -eq 1 ] && want=numbered,first-only
	[ "$labels" = "$want" ] || { wrong=$((wrong + 1)); echo "$dir: $labels, want $want" >&2; }
done <"$tmp/sl"
if [ -s "$tmp/sl" ] && [ "$wrong" -eq 0 ]; then pass series-level
else fail series-level "$wrong series labelled wrong ($(head -n 1 "$tmp/err"))"
fi

# A reference cycle is refused, the error names the rule set; exit status 2.
printf '[{"type": "A", "id": "a", "rules": [{"rule": "b"}]},\n {"type": "B", "id": "b", "rules": [{"rule": "a"}]}]\n' >"$tmp/cycle.json"
"$fiona" classify --rules "$tmp/cycle.json" "$c" >/dev/null 2>"$tmp/err"
st=$?
if [ "$st" -eq 2 ] && grep -q 'cycle.json: rule set 1 (id "b"): rules\[0\].rule: reference cycle' "$tmp/err"
then pass cycle-refused
else fail cycle-refused "status $st: $(head -n 1 "$tmp/err")"
fi

# --print-default gives rules that load again.
"$fiona" classify --print-default >"$tmp/default.json" &&
	"$fiona" classify --rules "$tmp/default.json" "$c" >"$tmp/again" 2>/dev/null &&
	cmp -s "$tmp/out" "$tmp/again" && pass print-default || fail print-default "differs or fails"

exit "$failed"
