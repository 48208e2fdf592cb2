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
	@echo "make test    run every test; as root it first installs .ci/packages (.ci/test)"
	@echo "make test-short  the quick tests only (-short), summarised the same way"
	@echo "make lint    go vet, gofmt check, staticcheck"
	@echo "make demo    run the built-in local example (see README)"
	@echo "make fuzz    fuzz the configuration decoder for 60s"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/haven

# The whole set-up is in .ci/test, which .ci/run calls through this target:
# install .ci/packages (or stop naming what is missing), a systemd in docker
# for the systemd agent's test, then go test -json through internal/testsum
# (failures in full, every skip with its reason; CI=true fails on a skip of
# a test that needs only what this set-up provides).
test:
	GO='$(GO)' .ci/test $(TESTFLAGS) ./...

test-short:
	@mkdir -p bin
	$(GO) build -o bin/testsum ./internal/testsum
	bin/testsum $(GO) test -json -short -count=1 ./...

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
