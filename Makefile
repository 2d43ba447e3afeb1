# imagec: build, test, demo. `make test` is what CI runs.
#
# Two modules: the library and CLI at the root, and in test/ the test
# machinery (real registries in-process, the fault proxy, the sample
# registry, the bench) with every test that runs against it, so that the
# library's go.mod holds only what the library uses. Each target covers both.
GO        ?= go
FUZZTIME  ?= 10s
BIN       := bin
TESTMOD   := test

.PHONY: build test unit race fuzz demo clean bench bench-shaped

# imagec-sigstore is imagec's offline signature checker, run by imagec verify
# and pull --verify: it goes next to imagec.
build:
	$(GO) build -o $(BIN)/imagec ./cmd/imagec
	$(GO) build -o $(BIN)/imagec-sigstore ./cmd/imagec-sigstore
	$(GO) -C $(TESTMOD) build -o $(CURDIR)/$(BIN)/imagec-sample-registry ./cmd/imagec-sample-registry

# Unit and integration tests (real registries in-process on loopback), then
# a short run of every fuzz target.
test: unit race fuzz

unit:
	$(GO) vet ./...
	$(GO) -C $(TESTMOD) vet ./...
	$(GO) test -count=1 ./...
	$(GO) -C $(TESTMOD) test -count=1 ./...

# The concurrent parts again under the race detector: every package that
# starts goroutines (unpack's read-ahead included) or whose tests race
# concurrent callers, wherever its tests live (pull, layers, gc, archive and
# the registry's uploads are tested from test/, the pull-through cache from
# test/serve; verify's, which runs, reads and kills the imagec-sigstore
# helper, from verify/ and test/verify). The CLI's tests (test/cli)
# are left out: they run the CLI as a separate, non-race binary, so -race
# would only instrument the test harness.
race:
	$(GO) test -race -count=1 ./pull ./transfer ./content/... ./registry/... ./progress ./unpack ./verify/...
	$(GO) -C $(TESTMOD) test -race -count=1 ./pull ./push ./registry ./layers ./gc ./archive ./serve ./verify

# Each fuzz target of both modules for FUZZTIME; `make fuzz FUZZTIME=10m`
# for a long run.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

# Starts a local registry seeded with sample images and pulls from it; no
# internet needed.
demo: build
	./scripts/demo.sh

clean:
	rm -rf $(BIN)

# Times imagec next to the peers installed here (crane, skopeo, regctl,
# containerd 1.x, and containerd 2.x as containerd2: -containerd2 DIR, by
# default /root/containerd2/bin or $GOPATH/bin) and writes
# docs/benchmarks.md. Not part of `make test`. The bench is built from the
# test module and run here, in the root, where it builds ./cmd/imagec and
# writes docs/.
#
# The run directories go to the system's temporary directory, or to
# -workdir DIR; the report names the filesystem. To take the disk out of
# the timings, bench on tmpfs (the large image's unpack needs about 2.3 GB
# there at scale 1; check `free -m` first):
#   mkdir -p /tmp/benchfs && mount -t tmpfs -o size=4g tmpfs /tmp/benchfs
#   make bench BENCHFLAGS='-runs 5 -workdir /tmp/benchfs'
#   umount /tmp/benchfs
# bench-shaped times the one-layer image over a link shaped like a CDN's
# (each connection capped at 20 MB/s, 20 ms round trip) into its own
# report; -workloads scale times a store with 1, 1,000 and 10,000 names.
BENCHFLAGS ?= -runs 5 -scale 1
SHAPEDFLAGS ?= -runs 5 -workloads pull,unpack -shape 20MB/s,20ms -fixtures bench/onelayer -out docs/benchmarks-shaped.md
bench:
	$(GO) -C $(TESTMOD) build -o $(CURDIR)/$(BIN)/imagec-bench ./cmd/imagec-bench
	$(BIN)/imagec-bench $(BENCHFLAGS)

bench-shaped:
	$(GO) -C $(TESTMOD) build -o $(CURDIR)/$(BIN)/imagec-bench ./cmd/imagec-bench
	$(BIN)/imagec-bench $(SHAPEDFLAGS)
