# labctl: the two commands a newcomer needs are `make demo` (run the main job)
# and `make test` (run the tests). See README.md.

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/labctl

.PHONY: build demo test unit integration lint fuzz bench bench-vagrant clean

# The binary, and its man pages and Markdown command reference generated
# from the commands (bin/man/man1/labctl-*.1: MANPATH=bin/man man labctl-up;
# bin/cli/labctl_*.md).
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/labctl
	$(BIN) __docs bin >/dev/null

# The main job: packages, libvirtd, images, the default lab (scripts/demo).
demo:
	scripts/demo

# The test command: static checks, then every test, the integration tests
# included (they need root: they build images from Debian packages and boot
# VMs under libvirt). Packages run one at a time: they share the image cache.
# testsum prints the tests' output (timings, lab tables) and closes with
# "tests: N passed, N failed, N skipped; lab checks: N passed, N failed".
test: lint
	$(GO) build -o bin/testsum ./internal/testsum
	set -o pipefail; LABCTL_INTEGRATION=1 $(GO) test -json -count=1 -p 1 -timeout 85m ./... 2>&1 | bin/testsum

integration: test

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit tests only: no root needed; integration tests say SKIPPED.
unit:
	$(GO) build -o bin/testsum ./internal/testsum
	set -o pipefail; $(GO) test -json -count=1 ./... 2>&1 | bin/testsum

# The benchmark: up (all nodes at once, then one at a time, then one node
# alone), every lab, down; medians and ratios in bench.json. Needs root,
# libvirtd and the images (see README.md).
BENCH_RUNS ?= 3
BENCH_ARGS ?=
bench: build
	$(BIN) --lab bench bench --runs $(BENCH_RUNS) --single --report bench.json $(BENCH_ARGS)

# The yardstick: labctl and vagrant-libvirt side by side, 1 and 3 nodes,
# medians of BENCH_RUNS rounds in bench-vagrant.json. Needs vagrant and
# vagrant-libvirt besides (see README.md).
bench-vagrant: build
	$(BIN) --lab bench bench --vagrant --runs $(BENCH_RUNS) --report bench-vagrant.json $(BENCH_ARGS)

# Longer fuzzing of the parsers (not part of `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./topology -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./inventory -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./plan -run '^$$' -fuzz FuzzPlan -fuzztime $(FUZZTIME)
	$(GO) test ./exercise/labfile -run '^$$' -fuzz FuzzParseFile -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
