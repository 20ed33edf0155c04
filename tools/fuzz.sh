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
	# the library holds C++ (dcmtk codecs, networking), tesseract and OpenJPEG: link like fiona
	clang -std=c11 -D_GNU_SOURCE -O1 -g -I. -I$B/gen $(pkg-config --cflags tesseract) \
		-fsanitize=fuzzer,address,undefined -c "$src" -o $B/$n.o
	clang++ -fsanitize=fuzzer,address,undefined $B/$n.o $B/libfiona.a \
		$(pkg-config --libs fuse3 sqlite3 jansson libxxhash libcrypto zlib libcurl tesseract lept freetype2 libopenjp2) \
		-ldcmnet -ldcmjpeg -ldcmjpls -ldcmtkcharls -lijg8 -lijg12 -lijg16 -ldcmimgle \
		-ldcmdata -loflog -lofstd -lpthread -lm -o $B/$n
	mkdir -p "$B/corpus-${n#fuzz_}"
	echo "fuzz: $n for ${secs}s"
	(cd $B && ./$n -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		"corpus-${n#fuzz_}" "../tests/fuzz/corpus/${n#fuzz_}")
done
