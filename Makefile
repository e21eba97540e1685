# Build, test and demo entry points. `make demo` and `make test`, as root,
# are the two commands a newcomer needs (see README.md).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin
BINARIES := calico-node calicoctl calico-lab
# The CNI plugins start once per container: static, they start faster.
STATIC_BINARIES := calico calico-ipam
PKGS := ./...
# Where each stage of `make test` records its result (see hack/testreport).
RESULTS := test-results
TESTREPORT := $(BIN)/testreport
# Privileged and tool-dependent tests fail instead of skipping when what
# they need is missing (run as root after make deps). Set it to 0 to let
# them skip, e.g. for `make test-unit` as an ordinary user.
export CALICO_REQUIRE_PRIVILEGED ?= 1
# Tests that need the Debian etcd-server package fail instead of skipping
# (the older switch; CALICO_REQUIRE_PRIVILEGED covers it too).
export CALICO_REQUIRE_ETCD_SERVER ?= 1
# No test may run the agent in this machine's own network namespace.
export CALICO_REFUSE_INIT_NETNS ?= 1

# The stages of `make test`, in order.
STAGES := deps build lint test-unit test-upstream test-e2e

.PHONY: all build deps test test-unit test-upstream test-e2e testreport lint fmt vet demo bench fuzz stress clean

all: build

deps:
	./hack/deps.sh

# One line per binary: the first build compiles every dependency (a few
# minutes on two CPUs), later ones take seconds.
build:
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do \
		echo "build: $(BIN)/$$b"; \
		$(GO) build -o $(BIN)/ ./cmd/$$b || exit 1; \
	done
	@for b in $(STATIC_BINARIES); do \
		echo "build: $(BIN)/$$b (static)"; \
		CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/$$b || exit 1; \
	done

# Everything CI runs. Every stage runs even when one before it failed;
# the summary at the end lists each stage, the tests run, skipped (with
# their reasons) and failed, and the exit status is non-zero when anything
# failed.
test: testreport
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@for s in $(STAGES); do \
		case $$s in \
		test-*) $(MAKE) --no-print-directory $$s ;; \
		*) $(TESTREPORT) run -stage $$s -dir $(RESULTS) -- $(MAKE) --no-print-directory $$s ;; \
		esac; \
	done; \
	$(TESTREPORT) summary -dir $(RESULTS) $(STAGES)

# The tool that runs test stages and prints their progress and summary.
testreport:
	@mkdir -p $(BIN)
	@$(GO) build -o $(TESTREPORT) ./hack/testreport

# Everything but the privileged end-to-end suite (test-e2e runs that).
test-unit: testreport
	@$(TESTREPORT) run -stage $@ -dir $(RESULTS) -- \
		$(GO) test -json -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v /test/e2e)

# Wire compatibility with upstream Calico: upstream's own Go client
# (libcalico-go, in a separate module) reads what we write and writes what
# we read, against a real etcd.
test-upstream: testreport
	@$(TESTREPORT) run -stage $@ -dir $(RESULTS) -- \
		$(GO) -C test/upstream test -json -race -count=1 -timeout 20m ./...

# Privileged end-to-end tests on the namespace lab (root).
test-e2e: build testreport
	@$(TESTREPORT) run -stage $@ -dir $(RESULTS) -- \
		$(GO) test -json -race -count=1 -timeout 20m ./test/e2e/...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) -C test/upstream vet ./...

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
	rm -rf $(BIN) $(RESULTS)
