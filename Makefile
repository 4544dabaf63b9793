# Shoal: every install step lives here and is idempotent and cached.
#   make up     — a local Shoal cluster: real etcd + kube-apiserver, CRDs, the operator (state in .shoal/)
#   make test   — generated-code check, typecheck, unit and integration tests against a real apiserver
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Node 24 comes from the npm `node` package (the machine's Node may be older); Go only builds test binaries.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH):/usr/local/go/bin
NODE_STAMP := node_modules/.shoal-installed

.PHONY: help deps tools generate verify-generated typecheck build test test-unit test-integration up down status clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@node --version | grep -q '^v24\.' || { echo "node_modules/.bin/node is not Node 24" >&2; exit 1; }
	@touch $@

deps: $(NODE_STAMP) ## Install npm dependencies (Node 24 included)

tools: ## Build kube-apiserver, kubectl and etcd from pinned Go modules (cached in ~/.cache/shoal)
	bash hack/build-k8s.sh

system-deps: ## Install Debian packages the agent tests need (containerd, runc, registry, busybox)
	bash hack/install-deps.sh

generate: deps ## Regenerate TS types and schemas from crds/*.yaml
	node hack/gen-api.ts

verify-generated: deps ## Fail if operator/src/api/generated is stale
	node hack/gen-api.ts --check

typecheck: deps ## Strict TypeScript check (no emit: Node 24 runs the .ts sources directly)
	tsc -p tsconfig.json

build: deps ## Emit the runtime as JavaScript into build/ (what the image runs; `make typecheck` checks types)
	rm -rf build
	tsc -p tsconfig.build.json
	cp -r agents/runtime/containerd/proto build/agents/runtime/containerd/

test-unit: deps ## Unit tests only
	mocha 'test/unit/**/*.test.ts'

test-integration: deps tools system-deps ## Integration tests against a real etcd + kube-apiserver
	mocha --timeout 180000 --require test/integration/fixture.ts 'test/integration/**/*.test.ts'

test: deps tools system-deps verify-generated typecheck ## Everything CI runs
	mocha --timeout 180000 --require test/integration/fixture.ts 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts'

.PHONY: bench
bench: deps tools system-deps build ## Benchmarks, not tests: scheduler, Workload start, agent idle cost, P2P mirror (results: docs/benchmarks.md)
	node bench/scheduling.ts
	node bench/startup.ts
	node bench/agent-idle.ts
	node bench/mirror.ts

up: deps tools system-deps ## Start a local Shoal cluster (control plane, operator, registry, two nodes with containerd + agent)
	node hack/cluster.ts up

down: ## Stop everything `make up` started
	@if [ -x node_modules/.bin/node ]; then node hack/cluster.ts down; fi

status: deps ## Show what `make up` is running
	node hack/cluster.ts status

clean: down ## Remove local state (keeps the binary cache in ~/.cache/shoal)
	rm -rf .shoal
