# Build, test and demo entry points. `sudo make demo` and `sudo make test`
# are the two commands a newcomer needs (see README.md).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin
BINARIES := calico-node calicoctl calico-lab calico calico-ipam
PKGS := ./...
# Tests that need the Debian etcd-server package fail instead of skipping.
export CALICO_REQUIRE_ETCD_SERVER ?= 1
# No test may run the agent in this machine's own network namespace.
export CALICO_REFUSE_INIT_NETNS ?= 1

.PHONY: all build deps test test-unit test-upstream test-e2e lint fmt vet demo bench fuzz stress clean

all: build

deps:
	./hack/deps.sh

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))
	# The CNI plugins start once per container: static, they start faster.
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/calico ./cmd/calico-ipam

# Everything CI runs.
test: deps build lint test-unit test-upstream test-e2e

# Everything but the privileged end-to-end suite (test-e2e runs that).
test-unit:
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v /test/e2e)

# Wire compatibility with upstream Calico: upstream's own Go client
# (libcalico-go, in a separate module) reads what we write and writes what
# we read, against a real etcd.
test-upstream:
	cd test/upstream && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 20m ./...

# Privileged end-to-end tests on the namespace lab (root; later issues).
test-e2e: build
	@if [ -d test/e2e ]; then $(GO) test -race -count=1 -timeout 20m ./test/e2e/...; \
	else echo "test-e2e: no end-to-end tests yet"; fi

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

demo: deps build
	./hack/demo.sh

# Heavy scale benchmarks, not run in CI. Results go to bench/RESULTS.md by hand.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./bench/...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeStrict -fuzztime 30s ./api/v3/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/selector/

# Hunts flaky tests (docs/stress.md): each unit test many times under
# -race, then under CPU contention (-cpu 1,2, busy loops beside), counts
# scaled to a time budget per test. COUNT (most runs per test, 200), PKGS,
# RUN (test regexp), BUDGET (per test and pass, 10s), JOBS (2), UPSTREAM=1
# (also test/upstream), OUT (results directory).
stress:
	$(GO) run ./hack/stress -count $(or $(COUNT),200) -pkgs '$(PKGS)' $(if $(RUN),-run '$(RUN)') \
		$(if $(BUDGET),-budget $(BUDGET)) $(if $(JOBS),-jobs $(JOBS)) $(if $(UPSTREAM),-upstream) $(if $(OUT),-out $(OUT))

clean:
	rm -rf $(BIN)
