# quell: build, test and install.
#
# Sources are found by wildcard: a new module is a new .c/.h pair under proxy/,
# filters/ or certs/ and needs no edit here.  proxy/main.c holds main() and is
# the only object not put in the library, so unit tests link libquell.a.

PREFIX   ?= /usr/local
CC       ?= cc
VERSION  := 0.1.0-$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

PKGS     := libevent_core libevent_extra libevent_openssl libevent_pthreads \
            openssl libpcre2-8 zlib libbrotlienc libbrotlidec libzstd libpsl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(CFLAGS) $(WARN) -I. $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

# STATIC=1 links libevent, OpenSSL, PCRE2, zlib, brotli and zstd from their
# Debian .a files into a position-dependent ./quell: about 2 MB less resident
# memory (no relocation or symbol lookup touching their pages at start; see
# doc/memory.md), for routers.  Off by default because a statically linked
# OpenSSL only gets security fixes when quell is rebuilt.  Only ./quell is
# affected; tests and the sanitized build link dynamically.
STATIC   ?= 0
ifeq ($(STATIC),1)
QUELL_LDFLAGS := -no-pie
QUELL_LDLIBS  := -Wl,-Bstatic -levent_openssl -levent_extra -levent_pthreads -levent_core \
                 -lssl -lcrypto -lpcre2-8 -lz -lbrotlienc -lbrotlidec -lbrotlicommon -lzstd \
                 -Wl,-Bdynamic -lpsl -ldl -lpthread -lm
else
QUELL_LDFLAGS :=
QUELL_LDLIBS  := $(LDLIBS)
endif

# Build flavours: plain (build/) and sanitized (build-san/).
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS     := $(sort $(wildcard proxy/*.c filters/*.c certs/*.c))
ASMS     := $(sort $(wildcard proxy/*.S filters/*.S certs/*.S))
LIB_SRCS := $(filter-out proxy/main.c,$(SRCS))
UNIT_SRCS:= $(sort $(wildcard tests/unit/test_*.c))

# Files pulled into the binary with .incbin (built-in rules, page templates).
EMBEDDED := $(wildcard filters/builtin/*.txt filters/*.txt proxy/*.html certs/*.html)

OBJS     = $(LIB_SRCS:%.c=$(B)/%.o) $(ASMS:%.S=$(B)/%.o)

.PHONY: all deps run test unit e2e san-unit san-e2e fuzz clean install bench
all: quell

# ---- objects -------------------------------------------------------------
# main.o carries the version string, so it is rebuilt every time (it is tiny).
build/proxy/main.o build-san/proxy/main.o: FORCE
build/proxy/main.o: ALL_CFLAGS += -DQUELL_VERSION='"$(VERSION)"'
build-san/proxy/main.o: ALL_CFLAGS += -DQUELL_VERSION='"$(VERSION)"'
.PHONY: FORCE
FORCE:

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@
build/%.o: %.S $(EMBEDDED)
	@mkdir -p $(dir $@)
	$(CC) -I. -c $< -o $@
build-san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@
build-san/%.o: %.S $(EMBEDDED)
	@mkdir -p $(dir $@)
	$(CC) -I. -c $< -o $@

build/libquell.a: $(LIB_SRCS:%.c=build/%.o) $(ASMS:%.S=build/%.o)
	@rm -f $@; ar rcs $@ $^
build-san/libquell.a: $(LIB_SRCS:%.c=build-san/%.o) $(ASMS:%.S=build-san/%.o)
	@rm -f $@; ar rcs $@ $^

quell: build/proxy/main.o build/libquell.a build/.link-$(STATIC)
	$(CC) $(CFLAGS) $(QUELL_LDFLAGS) -o $@ build/proxy/main.o build/libquell.a $(QUELL_LDLIBS)

# Remembers how ./quell was last linked, so switching STATIC relinks it.
build/.link-$(STATIC):
	@mkdir -p build; rm -f build/.link-*; touch $@
build-san/quell: build-san/proxy/main.o build-san/libquell.a
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# ---- unit tests (cmocka) ---------------------------------------------------
UNIT_BINS     := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
UNIT_BINS_SAN := $(UNIT_SRCS:tests/unit/%.c=build-san/tests/%)
build/tests/%: tests/unit/%.c build/libquell.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< build/libquell.a $(LDLIBS) -lcmocka
build-san/tests/%: tests/unit/%.c build-san/libquell.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< build-san/libquell.a $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@tools/run-unit.sh $(UNIT_BINS)
san-unit: $(UNIT_BINS_SAN)
	@ASAN_OPTIONS=detect_leaks=1 tools/run-unit.sh $(UNIT_BINS_SAN)

# ---- end-to-end tests (pytest, real nginx/curl/chromium) -------------------
# Debian's python3 (with python3-pytest), not a pyenv one that may shadow it on PATH.
PYTHON ?= /usr/bin/python3
E2E_ARGS ?=
e2e: quell
	QUELL_BIN=$(CURDIR)/quell $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(E2E_ARGS)
san-e2e: build-san/quell
	QUELL_BIN=$(CURDIR)/build-san/quell QUELL_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e -m "not slow" $(E2E_ARGS)

# ---- fuzz targets (clang, libFuzzer) ----------------------------------------
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@tools/build-fuzz.sh $(FUZZ_SRCS)

# ---- the two quick-start commands --------------------------------------------
deps:
	@tools/deps.sh

run: deps
	@$(MAKE) --no-print-directory quell
	./quell run

test: deps
	@$(MAKE) --no-print-directory quell build-san/quell $(UNIT_BINS) $(UNIT_BINS_SAN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory san-unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory san-e2e

bench: quell
	@echo "benchmarks: bench/proxy.sh bench/https.sh bench/engine.sh bench/rewrite.sh bench/quality.sh"

install: quell
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/doc/quell
	install -m 0755 quell $(DESTDIR)$(PREFIX)/bin/quell
	install -m 0644 doc/quell.1 $(DESTDIR)$(PREFIX)/share/man/man1/quell.1
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/quell/README.md

clean:
	rm -rf build build-san build-fuzz quell

-include $(shell find build build-san -name '*.d' 2>/dev/null)
