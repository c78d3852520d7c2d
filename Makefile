# kubeoffer — build, generate and test. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# controller-gen is pinned in hack/tools/go.mod (a separate module: its
# k8s.io dependencies are a newer minor than ours).
CONTROLLER_GEN ?= go -C hack/tools tool controller-gen
# staticcheck is pinned there too; `go tool -n` builds it and prints its path,
# so it can run from each module's own directory.
STATICCHECK ?= $(shell go -C $(CURDIR)/hack/tools tool -n staticcheck)
# The envtest control plane: kube-apiserver and etcd built from the module
# proxy at the versions pinned in hack/kube and hack/etcd, cached in bin/.
KUBEBUILDER_ASSETS ?= $(CURDIR)/bin/envtest
GO_TEST_FLAGS ?= -race -count=1
# How long `make fuzz` runs each fuzz target, and how long `make test` does.
FUZZTIME ?= 10s
CI_FUZZTIME ?= 10s
# The scale harness's grids (make bench; FULL=1 make bench).
BENCH_GRID ?= -agents 100,1000 -frameworks 1,10 -tasks 1000
BENCH_GRID_FULL ?= -agents 100,1000,5000 -frameworks 1,10,100 -tasks 10000 -memory 10000x100000 -memory-master-limit 1Gi -memory-for 25m
# The chaos run (make chaos): a seed reproduces its fault schedule.
CHAOS_SEED ?= 1
CHAOS_TASKS ?= 10000
CHAOS_FAULTS ?= 24
# Its small form, part of make test (a fixed seed; a few minutes).
CHAOS_CI_ARGS ?= -seed 7 -tasks 1000 -faults 8 -timeout 10m

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile="$(CURDIR)/hack/boilerplate.go.txt" paths="$(CURDIR)/api/..."

# protoc comes from Debian (apt install protobuf-compiler; hack/deps.sh);
# protoc-gen-go is pinned in hack/tools/go.mod.
PROTOC_GEN_GO ?= $(CURDIR)/bin/tools/protoc-gen-go

.PHONY: generate-mesos
generate-mesos: ## Generate the Go types of the Mesos API's messages (pkg/mesosapi/mesospb) from kubeoffer's .proto.
	go -C hack/tools build -o "$(PROTOC_GEN_GO)" google.golang.org/protobuf/cmd/protoc-gen-go
	protoc --plugin=protoc-gen-go="$(PROTOC_GEN_GO)" --go_out=. --go_opt=paths=source_relative pkg/mesosapi/mesospb/mesos.proto

.PHONY: manifests
manifests: ## Generate CRDs and the master's, agentd's and the Mesos API's RBAC into config/, and sync them into the chart.
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true rbac:roleName=kubeoffer-master \
		paths="$(CURDIR)/api/..." paths="$(CURDIR)/controllers/..." \
		output:crd:artifacts:config="$(CURDIR)/config/crd/bases" \
		output:rbac:artifacts:config="$(CURDIR)/config/rbac"
	$(CONTROLLER_GEN) rbac:roleName=kubeoffer-agentd paths="$(CURDIR)/agentd/..." \
		output:rbac:artifacts:config="$(CURDIR)/config/rbac/agentd"
	$(CONTROLLER_GEN) rbac:roleName=kubeoffer-mesos-api paths="$(CURDIR)/pkg/mesosapi/..." \
		output:rbac:artifacts:config="$(CURDIR)/config/rbac/mesos-api"
	go run ./hack/crdpostprocess config/crd/bases/*.yaml
	go run ./hack/chartsync

.PHONY: verify-generated
verify-generated: generate generate-mesos manifests ## Fail when generated files are stale.
	@git diff --exit-code -- api config charts pkg/mesosapi/mesospb || { echo "Generated files are stale: run 'make generate manifests' and commit." >&2; exit 1; }
	@test -z "$$(git status --porcelain -- api config charts pkg/mesosapi/mesospb)" || { git status --porcelain -- api config charts pkg/mesosapi/mesospb; echo "Generated files are not committed: run 'make generate manifests' and commit." >&2; exit 1; }

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Check formatting, vet and staticcheck (what CI checks).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go -C hack/scale vet ./...
	go -C hack/images vet ./...
	$(STATICCHECK) ./...
	cd hack/scale && $(STATICCHECK) ./...
	cd hack/images && $(STATICCHECK) ./...

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build (once) kube-apiserver and etcd for envtest into bin/.
	hack/envtest-assets.sh "$(KUBEBUILDER_ASSETS)"

.PHONY: test-unit
test-unit: ## Unit tests: pure packages, no control plane.
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /test/)

.PHONY: mesos-clients
mesos-clients: ## Install (npm ci) the npm Mesos client the Mesos API tests run; msh builds from test/mesosclients/msh in the tests.
	cd test/mesosclients/npm && npm ci --no-audit --no-fund --loglevel=error

.PHONY: test-integration
test-integration: envtest-assets helm mesos-clients ## Integration tests on a real kube-apiserver + etcd (envtest).
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go test $(GO_TEST_FLAGS) ./test/integration/...

.PHONY: helm
helm: ## Build (once) the Helm CLI from the module proxy into bin/helm/.
	hack/build-binaries.sh helm

.PHONY: test-e2e
test-e2e: mesos-clients ## End-to-end tests: helm install on a real local cluster (root; see hack/cluster.sh), real containers.
	hack/e2e.sh

.PHONY: fuzz
fuzz: ## Fuzz every Fuzz target for FUZZTIME (default 10s) each, one after another; an input found lands in testdata/fuzz/ and fails the run.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: chaos
chaos: envtest-assets ## Chaos run: 10,000 tasks under 24 faults on simulated agents, checked by test/invariants (CHAOS_SEED, CHAOS_TASKS, CHAOS_FAULTS).
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go -C hack/scale run . chaos -seed $(CHAOS_SEED) -tasks $(CHAOS_TASKS) -faults $(CHAOS_FAULTS)

.PHONY: chaos-ci
chaos-ci: envtest-assets ## The chaos run in small form (1,000 tasks, 8 faults, fixed seed), as make test runs it.
	go -C hack/scale test -count=1 ./...
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go -C hack/scale run . chaos $(CHAOS_CI_ARGS)

.PHONY: test
test: lint verify-generated envtest-assets helm mesos-clients ## Everything CI runs: lint, generated-code check, unit, integration, the fuzz corpora (as unit tests), a short fuzzing search, the small chaos run and end-to-end tests.
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go test $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz FUZZTIME=$(CI_FUZZTIME)
	$(MAKE) chaos-ci
	$(MAKE) test-e2e

##@ Build and run

.PHONY: build
build: ## Build the master and agentd into bin/ (static binaries).
	CGO_ENABLED=0 go build -trimpath -o bin/kubeoffer-master .
	CGO_ENABLED=0 go build -trimpath -o bin/kubeoffer-agentd ./agentd

.PHONY: run
run: ## Run the master against the cluster of $$KUBECONFIG (out of cluster).
	go run . --kubeconfig="$${KUBECONFIG:-$$HOME/.kube/config}" --metrics-bind-address=:8080 --health-probe-bind-address=:8081

.PHONY: run-agentd
run-agentd: ## Run agentd for node $$NODE_NAME against the cluster of $$KUBECONFIG (out of cluster).
	go run ./agentd --kubeconfig="$${KUBECONFIG:-$$HOME/.kube/config}" --node-name="$${NODE_NAME:?set NODE_NAME to the node to run for}" \
		--metrics-bind-address=:8082 --health-probe-bind-address=:8083

.PHONY: demo
demo: ## The README's first command: a real local cluster, kubeoffer via helm, sample frameworks running (root).
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Tear the demo's cluster down, leaving nothing behind.
	hack/cluster.sh down

.PHONY: cluster-up
cluster-up: ## Bring up the local single-node cluster (root; bin/cluster/admin.kubeconfig).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Tear the local cluster down, leaving nothing behind.
	hack/cluster.sh down

.PHONY: chart-lint
chart-lint: helm ## Lint the Helm chart.
	"$$(hack/build-binaries.sh --print-dir helm)/helm" lint --strict charts/kubeoffer

.PHONY: deploy
deploy: ## Install kubeoffer with kustomize (config/default) into the cluster of $$KUBECONFIG.
	kubectl apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove what `make deploy` installed.
	kubectl delete --ignore-not-found -k config/default

.PHONY: bench
bench: envtest-assets ## Benchmarks: the allocator at Mesos's grid, then the scale harness (quick grid; FULL=1 for the full one) into results/.
	go test -run '^$$' -bench BenchmarkAllocate -benchtime 5x ./pkg/allocator/
	hack/build-binaries.sh kube-scheduler
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go -C hack/scale run . $(if $(FULL),$(BENCH_GRID_FULL),$(BENCH_GRID))

