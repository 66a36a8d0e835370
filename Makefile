# labctl: the two commands a newcomer needs are `make demo` (run the main job)
# and `make test` (run the tests). See README.md.

SHELL   := /bin/bash
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/labctl

.PHONY: build demo test unit integration lint fuzz bench bench-vagrant bench-workshop clean web-deps web-assets bench-serve

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
test: lint web-deps
	$(GO) build -o bin/testsum ./internal/testsum
	set -o pipefail; LABCTL_INTEGRATION=1 $(GO) test -json -count=1 -p 1 -timeout 85m ./... 2>&1 | bin/testsum

integration: test

# The browser side of 'workshop serve': the npm packages of web/ui's
# lockfile (xterm.js, and Playwright for the browser test, which drives
# Debian's chromium and downloads no browser), and a check that the copies
# of xterm.js embedded in the binary (web/assets/vendor) are the
# lockfile's.
XTERM_FILES := @xterm/xterm/lib/xterm.js @xterm/xterm/css/xterm.css @xterm/addon-fit/lib/addon-fit.js
web-deps:
	cd web/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@for f in $(XTERM_FILES); do cmp -s web/ui/node_modules/$$f web/assets/vendor/$$(basename $$f) || \
	  { echo "web/assets/vendor/$$(basename $$f) is not the lockfile's $$f: run make web-assets"; exit 1; }; done

# Copies xterm.js from the lockfile's packages into web/assets/vendor
# (after changing web/ui/package.json: npm install there first).
web-assets:
	cd web/ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	for f in $(XTERM_FILES); do cp web/ui/node_modules/$$f web/assets/vendor/; done
	cp web/ui/node_modules/@xterm/xterm/LICENSE web/assets/vendor/LICENSE.xterm

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

# A workshop's cost as it grows: workshop up of 1, 2 and 4 one-node seats,
# reset of seat 1, down; the curve in bench-workshop.json.
bench-workshop: build
	$(BIN) --lab wsb bench --workshop 1,2,4 --runs $(BENCH_RUNS) --report bench-workshop.json $(BENCH_ARGS)

# The load benchmark of 'workshop serve': 30 terminals at once over real
# SSH sessions (OpenSSH's sshd on loopback), a keystroke each 100 ms on
# each; echo latency p50/p99 and memory, medians of 3 rounds, in
# bench-serve.json. Needs root and openssh-server.
bench-serve:
	LABCTL_BENCH=1 LABCTL_BENCH_REPORT=$(CURDIR)/bench-serve.json $(GO) test -count=1 -run TestTerminalLoad -v ./web/

# Longer fuzzing of the parsers (not part of `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./topology -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./inventory -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./plan -run '^$$' -fuzz FuzzPlan -fuzztime $(FUZZTIME)
	$(GO) test ./exercise/labfile -run '^$$' -fuzz FuzzParseFile -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
