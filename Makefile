# ksplice: build, test, demo and benchmark.
#
# make demo   the main job, end to end in a lab VM (installs its own deps)
# make test   all tests: unit tests, then the lab tests on a real Debian kernel
# make bench  benchmarks, each with a baseline measured in the same run
# make lint   gofmt, go vet
# make corpus every change to built-in C of a Debian release delta, made into
#             updates and applied and undone in one lab boot (hours; resumable)
# make flavours an update on every flavour (TestApplyFlavours; long)
# make deb    the Debian package (packaging/deb), in bin/

GO       ?= go
KERNEL   ?= debian:6.1.0-55-amd64
# One kernel per series and architecture: the arm64 update tests run on the
# arm64 one (TestApplyARM64), and the lab's own tests run in full on each
# (fetched for booting only, unless an update test prepares the same one).
LAB_KERNELS ?= $(KERNEL) debian:6.1.0-55-arm64 debian:6.12.117+deb12-amd64 debian:6.12.117+deb12-arm64
# Every flavour Debian ships for each series: the lab's boot, uname and
# module tests run once on each (docs/lab.md, "Tests"). Flavours not in
# LAB_KERNELS are fetched for booting only (image, headers, busybox).
# Measured: all lab tests of internal/lab and internal/cli, on the four
# LAB_KERNELS and the twelve flavours, 6.1 min on a warm cache (cold: 10
# boot-only fetches of 10-30 s more); docs/lab.md, "Tests".
LAB_SERIES   ?= 6.1.0-55 6.12.117+deb12
LAB_FLAVOURS ?= $(foreach s,$(LAB_SERIES),$(foreach f,amd64 cloud-amd64 rt-amd64 arm64 cloud-arm64 rt-arm64,debian:$(s)-$(f)))
KSPLICE_CACHE ?= /var/cache/ksplice
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/ksplice-go/ksplice/internal/cli.Version=$(VERSION)
# The CLI is statically linked so that the very same binary runs inside the
# lab guest's initramfs.
export CGO_ENABLED := 0
export KSPLICE_CACHE
# create builds the engine from these sources.
export KSPLICE_KMOD_SRC := $(CURDIR)/kmod-src

BIN       := bin/ksplice
BIN_ARM64 := bin/ksplice-linux-arm64

.PHONY: all build deps test unit fuzz testdata demo bench soak flavours corpus install install-kmod-src deb lint clean

all: build

deps:
	@./scripts/deps.sh

build: $(BIN) $(BIN_ARM64)

$(BIN): FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/ksplice

$(BIN_ARM64): FORCE
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/ksplice

FORCE:

# Test objects are compiled from the C (and Rust) sources in testdata/ with
# the kernel's compilers and flags; they are not checked in. The tests that
# use them also build them (internal/testutil.Make), and fail, never skip,
# when a compiler make deps installs is missing.
testdata:
	@for d in testdata/*/; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -s -C $$d || exit 1; fi; \
	done

unit: deps testdata
	$(GO) test -count=1 ./...

# Every parser of untrusted input has a fuzz target; each runs briefly in
# make test (longer runs: make fuzz FUZZTIME=10m).
# -fuzzminimizetime 50x: by default Go spends up to 60 s minimizing each
# new interesting input, reported as 0 execs/s (it looks like a hang).
# In make test each target runs a number of inputs (about ten seconds' worth
# on an idle 2-core machine), not a duration: when a duration ends while a
# worker is busy, as on a loaded machine, Go's fuzzing coordinator can fail
# the run with "context deadline exceeded" and no failing input.
FUZZTIME ?=
fuzztime = $(if $(FUZZTIME),$(FUZZTIME),$(1))
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(call fuzztime,100000x) -fuzzminimizetime 50x ./internal/elfdiff
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(call fuzztime,300000x) -fuzzminimizetime 50x ./internal/update
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(call fuzztime,500000x) -fuzzminimizetime 50x ./internal/sign
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(call fuzztime,500000x) -fuzzminimizetime 50x ./internal/modsig
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(call fuzztime,120000x) -fuzzminimizetime 50x ./internal/repo
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(call fuzztime,100000x) -fuzzminimizetime 50x ./internal/tudiff
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(call fuzztime,200000x) -fuzzminimizetime 50x ./internal/cdecl

# Lab tests boot real Debian kernels in QEMU; KSPLICE_LAB=1 turns them on.
# One package at a time in each stream (-p 1): two emulated guests on two
# cores slow each other down to the point of timeouts. Two streams, then
# one: internal/create's lab tests mostly compile kernel objects (two short
# boots), and run beside the packages whose lab tests boot guests (one TCG
# thread each); internal/apply's, timed ones among them (a 6-s window
# between prescan and pause, NMI cycles), run alone after both. A
# package's timeout leaves room for a cold cache, whose first lab tests
# fetch and prepare the kernels (internal/apply: about 21 min warm; on a
# new machine its 40 min ran out while it prepared the 6.12 trees).
LAB_ENV = KSPLICE_LAB=1 KSPLICE_LAB_KERNEL=$(KERNEL) KSPLICE_LAB_KERNELS="$(LAB_KERNELS)" KSPLICE_LAB_FLAVOURS="$(LAB_FLAVOURS)" KSPLICE_BIN=$(CURDIR)/$(BIN)
TEST_BESIDE := ./internal/create
TEST_ALONE  := ./internal/apply
test: deps testdata build fuzz
	@rc=0; log=$$(mktemp); \
	echo "make test: $(TEST_BESIDE) beside the other packages, then $(TEST_ALONE) alone"; \
	$(LAB_ENV) $(GO) test -count=1 -p 1 -timeout 75m $(TEST_BESIDE) > $$log 2>&1 & pid=$$!; \
	$(LAB_ENV) $(GO) test -count=1 -p 1 -timeout 75m $$($(GO) list ./... | grep -v -e '/internal/create$$' -e '/internal/apply$$') || rc=1; \
	wait $$pid || rc=1; cat $$log; rm -f $$log; \
	$(LAB_ENV) $(GO) test -count=1 -p 1 -timeout 75m $(TEST_ALONE) || rc=1; \
	exit $$rc

demo: deps build
	./scripts/demo.sh $(KERNEL)

# The soak: 1000 apply/undo cycles of an update under load on every CPU,
# with the replaced function called from NMIs (TestFtraceNMI) on amd64, and
# the same cycles on arm64 (TestApplyARM64/cycles).
soak: deps testdata build
	KSPLICE_LAB=1 KSPLICE_LAB_KERNEL=$(KERNEL) KSPLICE_LAB_KERNELS="$(KERNEL) debian:6.1.0-55-arm64" KSPLICE_BIN=$(CURDIR)/$(BIN) KSPLICE_SOAK_CYCLES=1000 \
		$(GO) test -count=1 -run '^(TestFtraceNMI|TestApplyARM64)$$' -v -timeout 90m ./internal/apply

# An update created, applied, traced and undone on every flavour of
# LAB_FLAVOURS (TestApplyFlavours): the portability matrix's create, apply
# and tracer cells. Each flavour not prepared yet is fetched in full
# (source, toolchain, prepare: 1-7 min); not part of make test.
flavours: deps testdata build
	KSPLICE_LAB=1 KSPLICE_LAB_APPLY_FLAVOURS="$(LAB_FLAVOURS)" KSPLICE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -run '^TestApplyFlavours$$' -v -timeout 180m ./internal/apply

# Includes create on a cold and a warm compile cache and without it
# (BenchmarkCreateCCache), and the 6.1.187-1 -> 6.1.190-1 delta's built-in C
# on a warm cache next to the floor of compiling its objects twice, at -j 1
# and 2 (BenchmarkUpgradeDelta: 36 min on two cores; BENCH_UPGRADE_FILES
# limits it to some of the changed files, e.g. 'block/*.c': a few minutes;
# BENCH_UPGRADE_MAX_SCAN bounds the includers of a changed header scanned,
# --max-scan: the delta's net/ fixes that need include/net/dst.h, 2418
# objects, would add 25 min each to each run).
BENCH_UPGRADE_FILES ?= all
BENCH_UPGRADE_MAX_SCAN ?= 1024
bench: deps testdata build
	KSPLICE_BENCH_UPGRADE_FILES='$(BENCH_UPGRADE_FILES)' KSPLICE_BENCH_UPGRADE_MAX_SCAN=$(BENCH_UPGRADE_MAX_SCAN) KSPLICE_LAB=1 KSPLICE_LAB_KERNEL=$(KERNEL) KSPLICE_LAB_KERNELS="$(LAB_KERNELS)" KSPLICE_LAB_FLAVOURS="$(LAB_FLAVOURS)" KSPLICE_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...

# The corpus of real fixes (issue 13): every change to C code built into
# vmlinux between two Debian releases of the kernel's source, one update per
# changed file, made by create --upgrade-to against the kernel built from
# the first (the creates are cached: a stopped run resumes where it was),
# then applied and undone in one boot of that kernel, with the cumulative
# update and a smoke test (TestUpgradeLab). Writes corpus/ARCH/report.json,
# report.html and lab-results.md (the table of every file).
CORPUS_FROM_KERNELS ?= debian:6.1.0-53-amd64 debian:6.1.0-53-arm64
CORPUS_TO      ?= 6.1.190-1
CORPUS_TARGETS ?= vmlinux
CORPUS_JOBS    ?= 2
# A header change's includers: at most CORPUS_MAX_SCAN scanned (about
# 0.3-0.6 s an object on two cores; the fixes that need list.h or the RCU
# headers reach 12400), CORPUS_MAX_OBJECTS rebuilt.
CORPUS_MAX_SCAN    ?= 4096
CORPUS_MAX_OBJECTS ?= 64
corpus: deps build
	@set -e; mkdir -p corpus; for k in $(CORPUS_FROM_KERNELS); do \
		out=corpus/$${k##*-}; \
		$(BIN) create --kernel $$k --upgrade-to $(CORPUS_TO) --targets $(CORPUS_TARGETS) -j $(CORPUS_JOBS) --max-scan $(CORPUS_MAX_SCAN) --max-objects $(CORPUS_MAX_OBJECTS) -o $$out --all > $$out.txt; \
		KSPLICE_LAB=1 KSPLICE_LAB_KERNEL=$$k KSPLICE_LAB_KERNELS=$$k KSPLICE_BIN=$(CURDIR)/$(BIN) KSPLICE_UPGRADE_REPORT=$(CURDIR)/$$out \
			$(GO) test -count=1 -run '^TestUpgradeLab$$' -v -timeout 180m ./internal/upgrade | tee $$out-lab.txt || true; \
	done

# Installs the CLI and the engine's sources, which create builds for each
# target kernel (found in $(PREFIX)/share/ksplice/kmod-src).
PREFIX ?= /usr/local
install: build install-kmod-src
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ksplice

install-kmod-src:
	cd kmod-src && for f in $$(git ls-files -- '*.c' '*.h' Kbuild 2>/dev/null || find . -name '*.[ch]' -o -name Kbuild); do \
		install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/share/ksplice/kmod-src/$$f; done

# The Debian package, built with dpkg-deb (packaging/deb/build.sh): the
# binary, the engine sources, the systemd unit, man pages and completion
# generated from the command tree. DEB_VERSION is a native version that
# sorts by commit time; DEB_UNIT is the unit apply --boot comes with.
DEB_ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_VERSION ?= $(shell git log -1 --format=0~%cd.g%h --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0~dev)
DEB_UNIT    ?= packaging/systemd/ksplice.service
DEB         ?= bin/ksplice_$(DEB_VERSION)_$(DEB_ARCH).deb
GENDOCS     := bin/ksplice-gendocs

$(GENDOCS): FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/ksplice-gendocs

deb: $(GENDOCS)
	GOARCH=$(DEB_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/deb-$(DEB_ARCH)/ksplice ./cmd/ksplice
	./packaging/deb/build.sh $(DEB) bin/deb-$(DEB_ARCH)/ksplice $(GENDOCS) $(DEB_VERSION) $(DEB_ARCH) $(DEB_UNIT)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin
	@for d in testdata/*/; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -s -C $$d clean; fi; \
	done
