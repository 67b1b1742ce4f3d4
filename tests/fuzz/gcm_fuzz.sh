#!/bin/sh
# tests/fuzz/gcm_fuzz.sh: builds gcm_fuzz, the libFuzzer target that holds rexec's AES-GCM
# (proto/gcm_alt.c) against mbedTLS's own gcm.c (tests/fuzz/gcm_fuzz.c), with Debian's clang
# (packages clang and libclang-rt-dev) and ASan + UBSan, from the mbedTLS sources the
# bootstrap unpacked into .deps/src/mbedtls. mbedTLS is compiled with rexec's configuration
# minus MBEDTLS_GCM_ALT (REXEC_GCM_MBEDTLS), so its gcm.c is the reference; gcm_alt.c is
# compiled a second time under the names of gcm_fuzz_alt.h.
#
#   tests/fuzz/gcm_fuzz.sh [OUT_DIR]          (default zig-out/fuzz; objects are kept there)
#   zig-out/fuzz/gcm_fuzz -max_total_time=60 [CORPUS_DIR]
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/zig-out/fuzz}
cc=${CC:-clang}
mb=$top/.deps/src/mbedtls
san='-fsanitize=address,undefined -fno-sanitize-recover=undefined'
cflags="-g -O1 -std=gnu11 -fno-omit-frame-pointer $san -I$mb/include -I$mb/library"
cflags="$cflags -I$top/packaging/deps -I$top -DMBEDTLS_USER_CONFIG_FILE=\"mbedtls_user_config.h\""

mkdir -p "$out/mbedtls"
# mbedTLS's library, reference gcm.c included, in parallel; kept between runs.
for src in "$mb"/library/*.c; do
	obj=$out/mbedtls/$(basename "$src" .c).o
	[ "$obj" -nt "$src" ] || echo "$src"
done | GCM_CC=$cc GCM_CFLAGS="$cflags" GCM_OUT=$out xargs -r -P "$(nproc)" -n 1 sh -c \
	'$GCM_CC $GCM_CFLAGS -DREXEC_GCM_MBEDTLS -fsanitize=fuzzer-no-link -w -c "$1" \
		-o "$GCM_OUT/mbedtls/$(basename "$1" .c).o"' sh
$cc $cflags -fsanitize=fuzzer-no-link -include "$top/tests/fuzz/gcm_fuzz_alt.h" \
	-c "$top/proto/gcm_alt.c" -o "$out/gcm_alt.o"
$cc $cflags -DREXEC_GCM_MBEDTLS -fsanitize=fuzzer -Wall -Wextra -Werror \
	"$top/tests/fuzz/gcm_fuzz.c" "$out/gcm_alt.o" "$out"/mbedtls/*.o -lpthread \
	-o "$out/gcm_fuzz"
echo "gcm_fuzz.sh: $out/gcm_fuzz"
