#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target with clang (ASan+UBSan) and runs
# each for the given number of seconds over its corpus in tests/fuzz/corpus/<name>/.
# New interesting inputs go to build-fuzz/corpus-<name>/; crashes to build-fuzz/ and
# should be copied into tests/fuzz/corpus/<name>/ as regressions.
set -eu
secs=${1:-60}
B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
make --no-print-directory BUILD=$B CC=clang CXX=clang++ OPT=-O1 SAN="$SAN" $B/libfiona.a
for src in tests/fuzz/fuzz_*.c; do
	n=$(basename "$src" .c)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -I. -I$B/gen -fsanitize=fuzzer,address,undefined \
		"$src" $B/libfiona.a $(pkg-config --libs jansson zlib libxxhash libcrypto sqlite3) \
		-lpthread -lm -o $B/$n
	mkdir -p "$B/corpus-${n#fuzz_}"
	echo "fuzz: $n for ${secs}s"
	(cd $B && ./$n -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		"corpus-${n#fuzz_}" "../tests/fuzz/corpus/${n#fuzz_}")
done
