# replaygw — build, test, benchmark and demo targets.
# Tests and the demo need root (network namespaces, TUN devices, raw sockets).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/replaygw
PKGS     := ./...

.PHONY: all deps bench-deps build test test-short bench demo fuzz faults soak vet clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/replaygw

vet:
	$(GO) vet $(PKGS)

deps:
	@bash .ci/deps

bench-deps:
	@bash .ci/deps bench

# The whole suite: unit tests, fuzz seeds, and the namespace labs (as root).
test: deps vet
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 14m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Benchmarks: per-packet costs (-benchmem), the gateway's absorb rate through
# a real TUN (root), and the end-to-end lab runs (root). Figures and the
# commands behind them are in docs/benchmarks.md.
bench: bench-deps build
	$(GO) test -run '^$$' -bench . -benchmem ./wire ./gateway ./copier ./capture ./replay
	$(GO) test -run '^$$' -bench Extract -benchmem ./absorb
	$(GO) test -run '^$$' -bench Absorb -benchtime 5x ./absorb
	RGW_BENCH=1 $(GO) test ./integration -run '^TestBenchLab$$' -count=1 -v -timeout 15m
	RGW_BENCH=1 $(GO) test ./integration -run '^TestBenchOpenLoop$$' -count=1 -v -timeout 10m
	RGW_BENCH=1 $(GO) test ./integration -run '^TestBenchMySQL$$' -count=1 -v -timeout 5m

# The fault suite and the soak (root): replay success, copier CPU and RSS
# under loss, duplication, a gateway crash and a target restart, and over a
# long steady load. Figures and commands: docs/reliability.md.
faults: deps
	RGW_FAULTS=1 $(GO) test ./integration -run '^TestFaults$$' -count=1 -v -timeout 20m

soak: deps
	RGW_SOAK=1 $(GO) test ./integration -run '^TestSoak$$' -count=1 -v -timeout 30m

demo: deps build
	$(BIN) demo

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime 30s ./wire
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 30s ./absorb
	$(GO) test -run '^$$' -fuzz '^FuzzEngine$$' -fuzztime 60s ./copier

clean:
	rm -rf bin
