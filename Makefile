# make test is the whole suite: what CI runs and what the README gives.
SHELL := /bin/bash
GO ?= go
GOTESTFLAGS ?= -race -count=1 -timeout 25m

.PHONY: test deps vet staticcheck fmt-check gotest web web-check fuzz bench demo

test: deps fmt-check vet staticcheck web-check gotest
	@echo "make test: all checks passed"

deps:
	@scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# staticcheck is installed by scripts/install-deps.sh into .bin/ at the version pinned there.
staticcheck:
	.bin/staticcheck ./...

# Go tests, including the Node conformance suites and the browser test that the Go tests drive.
gotest:
	@set -o pipefail; $(GO) test $(GOTESTFLAGS) ./... 2>&1 | tee /tmp/rcgateway-gotest.log; \
	rc=$$?; pass=$$(grep -c '^ok ' /tmp/rcgateway-gotest.log); fail=$$(grep -c '^FAIL' /tmp/rcgateway-gotest.log); \
	echo "packages: $$pass passed, $$fail failed"; exit $$rc

# Rebuild the web UI and fail when the committed build differs from the sources.
web-check:
	@if [ -f web/package.json ]; then scripts/web-check.sh; fi

web:
	cd web && npm run build

FUZZTIME ?= 30s
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

bench:
	@bench/run.sh

demo:
	$(GO) run ./cmd/rcgateway demo
