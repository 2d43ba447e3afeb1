# imagec: build, test, demo. `make test` is what CI runs.
GO        ?= go
FUZZTIME  ?= 10s
BIN       := bin

.PHONY: build test unit race fuzz demo clean bench

build:
	$(GO) build -o $(BIN)/imagec ./cmd/imagec
	$(GO) build -o $(BIN)/imagec-sample-registry ./cmd/imagec-sample-registry

# Unit and integration tests (real registries in-process on loopback), then
# a short run of every fuzz target.
test: unit race fuzz

unit:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The concurrent parts again under the race detector: every package that
# starts goroutines (unpack's read-ahead included) or whose tests race
# concurrent callers. cmd/imagec is left out: its tests run the CLI as a separate,
# non-race binary, so -race would only instrument the test harness.
race:
	$(GO) test -race -count=1 ./pull ./transfer ./content/... ./registry/... ./layers ./gc ./archive ./progress ./unpack

# Each fuzz target for FUZZTIME; `make fuzz FUZZTIME=10m` for a long run.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

# Starts a local registry seeded with sample images and pulls from it; no
# internet needed.
demo: build
	./scripts/demo.sh

clean:
	rm -rf $(BIN)

# Times imagec next to the peers installed here (crane, skopeo, regctl,
# containerd) and writes docs/benchmarks.md. Not part of `make test`.
BENCHFLAGS ?= -runs 5 -scale 1
bench:
	$(GO) run ./cmd/imagec-bench $(BENCHFLAGS)
