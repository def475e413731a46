#!/bin/sh
# Builds and runs libFuzzer targets: tools/build-fuzz.sh tests/fuzz/fuzz_*.c
#
# All project sources (proxy/ filters/ certs/, except proxy/main.c) are
# compiled once with clang and ASan+UBSan+fuzzer instrumentation into
# build-fuzz/libquell-fuzz.a, so any target can call any module.  Objects are
# rebuilt only when their source or a header they include changed.  Each
# target then runs for FUZZ_TIME seconds (default 20) over a scratch corpus
# build-fuzz/corpus/<name>/ seeded from tests/fuzz/corpus/<name>/ when that
# exists (libFuzzer writes new inputs only to the first, scratch, directory).
# A crash, leak, sanitizer report or a target that fails to build is a failure;
# the crashing input is kept under build-fuzz/artifacts/.
#
# Library objects are built with -w: they are other modules' business (the
# gcc build has -Werror); warnings in the targets themselves are shown.
#
# Environment: CLANG (default clang), FUZZ_TIME (seconds per target),
# FUZZ_JOBS (parallel compiles, default 2).
set -u
CLANG=${CLANG:-clang}
FUZZ_TIME=${FUZZ_TIME:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
OUT=build-fuzz
PKGS="libevent_core libevent_extra libevent_openssl libevent_pthreads openssl libpcre2-8 zlib libbrotlienc libbrotlidec libzstd libpsl"

if [ "$#" -eq 0 ]; then
  echo "fuzz: no targets given"; echo "fuzz: 0 passed, 0 failed"; exit 0
fi
if ! command -v "$CLANG" >/dev/null 2>&1; then
  echo "fuzz: $CLANG not found (apt-get install clang)"; exit 1
fi

PKG_CFLAGS=$(pkg-config --cflags $PKGS) || exit 1
PKG_LIBS=$(pkg-config --libs $PKGS) || exit 1
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter -I. $PKG_CFLAGS $SAN -DQUELL_VERSION=\"fuzz\""
export CLANG CFLAGS OUT
mkdir -p "$OUT/obj" "$OUT/artifacts" "$OUT/corpus" || exit 1

# ---- library objects ----------------------------------------------------------
# Prints the objects to (re)build: missing, or older than a dependency.
stale() {
  for src in proxy/*.c filters/*.c certs/*.c proxy/*.S filters/*.S certs/*.S; do
    [ -f "$src" ] || continue
    [ "$src" = proxy/main.c ] && continue
    obj="$OUT/obj/${src%.*}.o"
    if [ ! -f "$obj" ]; then echo "$src"; continue; fi
    deps="$src"
    [ -f "${obj%.o}.d" ] && deps=$(sed -e 's/^[^:]*://' -e 's/\\$//' "${obj%.o}.d")
    for d in $deps; do
      if [ ! -f "$d" ] || [ "$d" -nt "$obj" ]; then echo "$src"; break; fi
    done
  done
}

todo=$(stale)
if [ -n "$todo" ]; then
  # Two compiles at a time (shared machine); xargs stops at an exit 255.
  if ! printf '%s\n' $todo | xargs -P "$FUZZ_JOBS" -I{} sh -c '
      src={}; obj="$OUT/obj/${src%.*}.o"; mkdir -p "$(dirname "$obj")"
      case "$src" in
        *.S) $CLANG -w -I. -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" ;;
        *)   $CLANG $CFLAGS -w -fsanitize=fuzzer-no-link -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" ;;
      esac || { echo "fuzz: compile failed: $src" >&2; rm -f "$obj"; exit 255; }'; then
    echo "fuzz: 0 passed, $# failed (library did not build)"; exit 1
  fi
fi
LIB="$OUT/libquell-fuzz.a"
rm -f "$LIB"
objs=$(find "$OUT/obj" -name '*.o' | sort)
# Objects whose source disappeared must not linger in the archive.
keep=""
for o in $objs; do
  base=${o#"$OUT/obj/"}; base=${base%.o}
  if [ -f "$base.c" ] || [ -f "$base.S" ]; then keep="$keep $o"; else rm -f "$o"; fi
done
[ -n "$keep" ] && ar rcs "$LIB" $keep || { echo "fuzz: no library objects"; exit 1; }

# ---- targets --------------------------------------------------------------------
pass=0; fail=0
for t in "$@"; do
  name=$(basename "$t" .c)
  bin="$OUT/$name"
  if ! $CLANG $CFLAGS -fsanitize=fuzzer "$t" "$LIB" $PKG_LIBS -lpthread -lm -o "$bin"; then
    echo "fuzz: $name: build failed"; fail=$((fail+1)); continue
  fi
  mkdir -p "$OUT/corpus/$name"
  seeds=""
  [ -d "tests/fuzz/corpus/$name" ] && seeds="tests/fuzz/corpus/$name"
  log="$OUT/$name.log"
  if "$bin" -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix="$OUT/artifacts/$name-" "$OUT/corpus/$name" $seeds >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $name: ok (${execs:-?} runs in ${FUZZ_TIME}s)"
    pass=$((pass+1))
  else
    echo "fuzz: $name: FAILED (log $log)"; tail -n 40 "$log"
    fail=$((fail+1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
