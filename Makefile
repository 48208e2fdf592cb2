# haven — build, test, lint, demo. `make help` lists the targets.
GO        ?= go
BIN       ?= bin/haven
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION ?= v0.7.0
# Test packages run one at a time: the cluster suites start many processes
# and the machine may have 2 cores.
TESTFLAGS ?= -count=1 -p 1 -timeout 30m

.PHONY: help build test test-short lint demo fuzz clean

help:
	@echo "make build   build $(BIN) (static)"
	@echo "make test    run every test (needs root and the packages .ci/run installs)"
	@echo "make lint    go vet, gofmt check, staticcheck"
	@echo "make demo    run the built-in local example (see README)"
	@echo "make fuzz    fuzz the configuration decoder for 60s"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/haven

test:
	$(GO) test $(TESTFLAGS) ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

demo:
	$(GO) run ./cmd/haven demo

fuzz:
	$(GO) test ./engine/config -run '^$$' -fuzz FuzzParse -fuzztime 60s

clean:
	rm -rf bin
