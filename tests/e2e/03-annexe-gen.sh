#!/bin/sh
# tools/gen_annexe.sh must not depend on the JSON's layout: the table generated from the
# project copy, from a minified copy (one line) and from a CRLF copy must be identical,
# and a file with an unknown action code must fail the generator.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=anon/annexe-2024b.json
gen() { sh tools/gen_annexe.sh "$1" 2>/dev/null | tail -n +2; }

gen "$json" > "$tmp/ref.c" || { echo "FAIL annexe_gen_ref: generator failed"; exit 1; }
sed 's/^[ 	]*//' "$json" | tr -d '\n' > "$tmp/min.json"
sed 's/$/\r/' "$json" > "$tmp/crlf.json"
for v in min crlf; do
	if gen "$tmp/$v.json" | cmp -s - "$tmp/ref.c"; then
		echo "PASS annexe_gen_$v"
	else
		echo "FAIL annexe_gen_$v: table differs from the one generated from $json"
		exit 1
	fi
done
sed 's/"basicProfile":"X\/Z\/U\*"/"basicProfile":"Q"/' "$json" > "$tmp/bad.json"
if sh tools/gen_annexe.sh "$tmp/bad.json" > /dev/null 2>&1; then
	echo "FAIL annexe_gen_bad_code: unknown code accepted"
	exit 1
fi
echo "PASS annexe_gen_bad_code"
