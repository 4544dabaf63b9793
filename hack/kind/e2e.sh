#!/usr/bin/env bash
# End-to-end test on kind: build the image, load it into a kind cluster, install
# config/default, wait for the operator and the agents, apply config/samples and
# wait for the sample Workloads to become Ready (or Succeeded).
#
# Needs docker (or another engine kind supports), kind and kubectl on PATH.
# Creates the cluster from hack/kind/cluster.yaml if it does not exist; a cluster
# this script created is deleted on success and kept on failure for inspection.
#
# Environment:
#   KIND_CLUSTER_NAME  cluster name (default: shoal)
#   IMG                image to build and load, name:tag (default: ghcr.io/shoal-dev/shoal:e2e)
#   SKIP_BUILD=1       load $IMG as it is, without docker build
#   KEEP_CLUSTER=1     never delete the cluster
#   TIMEOUT            per-step wait, kubectl duration (default: 300s)
#   ARTIFACTS          directory for diagnostics on failure (default: tmp/e2e-artifacts)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

CLUSTER="${KIND_CLUSTER_NAME:-shoal}"
IMG="${IMG:-ghcr.io/shoal-dev/shoal:e2e}"
TIMEOUT="${TIMEOUT:-300s}"
ARTIFACTS="${ARTIFACTS:-$ROOT/tmp/e2e-artifacts}"
NS=shoal-system
CONTEXT="kind-$CLUSTER"
CREATED=0
OVERLAY=""

log() { printf '\n==> %s\n' "$*" >&2; }
k() { kubectl --context "$CONTEXT" "$@"; }

# seconds from a kubectl duration such as 300s, 5m or 1h.
seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

dump() {
  log "Collecting diagnostics into $ARTIFACTS"
  mkdir -p "$ARTIFACTS"
  {
    k get nodes -o wide
    k get all,leases -n "$NS" -o wide
    k get leases -n shoal-node-lease -o wide
    k get workloads.shoal.dev,meshroutes.shoal.dev -A -o wide
    k get nodes.shoal.dev,mirrorpolicies.shoal.dev -o wide
  } >"$ARTIFACTS/get.txt" 2>&1 || true
  k get workloads.shoal.dev,meshroutes.shoal.dev -A -o yaml >"$ARTIFACTS/namespaced-objects.yaml" 2>&1 || true
  k get nodes.shoal.dev,mirrorpolicies.shoal.dev -o yaml >"$ARTIFACTS/cluster-objects.yaml" 2>&1 || true
  k describe pods -n "$NS" >"$ARTIFACTS/pods-describe.txt" 2>&1 || true
  k get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
  for sel in app.kubernetes.io/component=operator app.kubernetes.io/component=agent; do
    local name="${sel#*=}"
    k logs -n "$NS" -l "$sel" --all-containers --prefix --tail=-1 >"$ARTIFACTS/$name.log" 2>&1 || true
    k logs -n "$NS" -l "$sel" --all-containers --prefix --tail=-1 --previous >"$ARTIFACTS/$name-previous.log" 2>&1 || true
  done
  # Also on stderr, so the CI log shows the essentials without the artifacts.
  cat "$ARTIFACTS/get.txt" >&2
  log "operator logs (last 200 lines)"; tail -n 200 "$ARTIFACTS/operator.log" >&2 || true
  log "agent logs (last 200 lines)"; tail -n 200 "$ARTIFACTS/agent.log" >&2 || true
  log "events (last 50)"; tail -n 50 "$ARTIFACTS/events.txt" >&2 || true
}

finish() {
  local rc=$?
  [[ -n "$OVERLAY" ]] && rm -rf "$OVERLAY"
  if [[ $rc -ne 0 ]]; then
    dump
    log "FAILED (exit $rc); cluster $CLUSTER kept: kind delete cluster --name $CLUSTER"
  elif [[ $CREATED -eq 1 && "${KEEP_CLUSTER:-0}" != 1 ]]; then
    log "Deleting cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER"
  fi
  exit "$rc"
}
trap finish EXIT

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool not found on PATH" >&2; exit 1; }
done

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "Using existing kind cluster $CLUSTER"
else
  log "Creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config hack/kind/cluster.yaml --wait "$TIMEOUT"
  CREATED=1
fi
kind export kubeconfig --name "$CLUSTER" >/dev/null

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "Building $IMG"
  docker build -t "$IMG" .
fi
log "Loading $IMG into $CLUSTER"
kind load docker-image "$IMG" --name "$CLUSTER"

# An overlay of config/default that only swaps the image. It lives in the
# repository (tmp/ is git-ignored) because kustomize takes relative paths only.
mkdir -p "$ROOT/tmp"
OVERLAY="$(mktemp -d "$ROOT/tmp/e2e-overlay.XXXXXX")"
cat >"$OVERLAY/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../config/default
images:
  - name: ghcr.io/shoal-dev/shoal
    newName: ${IMG%:*}
    newTag: ${IMG##*:}
EOF

log "Installing config/default"
k apply --server-side --force-conflicts -k "$OVERLAY"
mapfile -t crds < <(k get crd -o name | grep '\.shoal\.dev$')
[[ ${#crds[@]} -gt 0 ]] || { echo "e2e: no shoal.dev CRDs installed" >&2; exit 1; }
k wait --for=condition=Established --timeout="$TIMEOUT" "${crds[@]}"

log "Waiting for the operator and the agents"
k -n "$NS" rollout status deployment/shoal-operator --timeout="$TIMEOUT"
k -n "$NS" rollout status daemonset/shoal-agent --timeout="$TIMEOUT"

log "Waiting for every node to be registered and Ready as a shoal.dev Node"
want=$(k get nodes -o name | wc -l)
deadline=$(( $(date +%s) + $(seconds "$TIMEOUT") ))
until [[ $(k get nodes.shoal.dev -o name 2>/dev/null | wc -l) -ge $want ]]; do
  [[ $(date +%s) -lt $deadline ]] || { echo "e2e: fewer than $want nodes.shoal.dev objects" >&2; exit 1; }
  sleep 2
done
k wait --for=condition=Ready nodes.shoal.dev --all --timeout="$TIMEOUT"

log "Applying config/samples"
if [[ -f config/samples/kustomization.yaml ]]; then
  samples=(-k config/samples)
else
  samples=(-R -f config/samples)
fi
k apply "${samples[@]}"

log "Waiting for the sample Workloads"
workloads=$(k get "${samples[@]}" --no-headers \
  -o custom-columns='KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name' |
  awk '$1 == "Workload" { print $2 "/" $3 }')
[[ -n "$workloads" ]] || { echo "e2e: config/samples has no Workload" >&2; exit 1; }
deadline=$(( $(date +%s) + $(seconds "$TIMEOUT") ))
for wl in $workloads; do
  ns="${wl%%/*}" name="${wl#*/}"
  while true; do
    state=$(k get workloads.shoal.dev "$name" -n "$ns" \
      -o jsonpath='{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    case "$state" in
      Succeeded/* | */True) echo "workload $ns/$name: $state"; break ;;
      Failed/*) echo "e2e: workload $ns/$name failed" >&2; exit 1 ;;
    esac
    [[ $(date +%s) -lt $deadline ]] || { echo "e2e: workload $ns/$name not Ready after $TIMEOUT (phase/Ready: $state)" >&2; exit 1; }
    sleep 3
  done
done

log "PASSED"
