// Registers this agent's Node CR and keeps its status true: capacity, system info, addresses and the
// conditions the agent owns. Written with our own field manager and only when something changed.
import { nodeType } from "../../operator/src/api/generated/types.js";
import { formatBytes, formatMilliCpu } from "../../operator/src/api/quantity.js";
import { ownedConditions } from "../../operator/src/runtime/conditions.js";
import { isAlreadyExists, isNotFound } from "../../operator/src/runtime/kube.js";
import { resourcePath } from "../../operator/src/runtime/resource.js";
import { applyStatus } from "../../operator/src/runtime/writes.js";
import { hostAddresses, hostCapacity, hostInfo } from "./host.js";
export const agentFieldManager = (node) => `shoal-agent/${node}`;
/** Creates our Node CR if missing; labels from the core Node of the same name (for nodeSelector) plus our own. */
export async function ensureNode(client, identity) {
    const path = resourcePath(nodeType, undefined, identity.name);
    try {
        return await client.request('GET', path);
    }
    catch (err) {
        if (!isNotFound(err))
            throw err;
    }
    const core = await coreNode(client, identity.name);
    const node = {
        apiVersion: 'shoal.dev/v1alpha1',
        kind: 'Node',
        metadata: {
            name: identity.name,
            labels: { ...(core?.metadata?.labels ?? {}), ...identity.labels },
            // Garbage-collected with the core Node; no blockOwnerDeletion (agents may not update nodes/finalizers).
            ...(core?.metadata?.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: identity.name, uid: core.metadata.uid }] } : {}),
        },
        spec: {},
    };
    try {
        return await client.request('POST', resourcePath(nodeType), { body: node });
    }
    catch (err) {
        if (isAlreadyExists(err))
            return client.request('GET', path);
        throw err;
    }
}
async function coreNode(client, name) {
    try {
        return await client.request('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
    }
    catch {
        return undefined; // not on Kubernetes nodes (make up), or not allowed: our own labels suffice
    }
}
export function currentHostFacts() {
    return { capacity: hostCapacity(), info: hostInfo(), addresses: hostAddresses().slice(0, 8) };
}
export function desiredNodeStatus(node, identity, health, extras = {}) {
    const host = extras.host ?? currentHostFacts();
    const { milliCpu, memoryBytes } = host.capacity;
    const capacity = { cpu: formatMilliCpu(milliCpu), memory: formatBytes(memoryBytes), workloads: identity.maxWorkloads };
    const info = host.info;
    const generation = node.metadata.generation ?? 0;
    const containerd = health.containerdProblem
        ? { type: 'ContainerdReady', status: 'False', reason: 'ContainerdUnavailable', message: health.containerdProblem, observedGeneration: generation }
        : { type: 'ContainerdReady', status: 'True', reason: 'ContainerdServing', message: `containerd ${health.containerdVersion ?? ''} answers`.trim(), observedGeneration: generation };
    const ready = health.containerdProblem
        ? { type: 'Ready', status: 'False', reason: 'ContainerdUnavailable', message: 'The agent cannot reach containerd.', observedGeneration: generation }
        : { type: 'Ready', status: 'True', reason: 'AgentReady', message: 'The agent is running and containerd answers.', observedGeneration: generation };
    const conditions = [ready, containerd];
    if (extras.mirror)
        conditions.push({ type: 'MirrorReady', ...extras.mirror.ready, observedGeneration: generation });
    // Fields we wrote before but do not know yet this time are carried over: leaving them out of the apply
    // would make the API server drop them (server-side apply removes fields a manager stops sending).
    const images = extras.images ?? node.status?.images;
    const mirror = extras.mirror?.mirror;
    const peer = extras.mirror?.peer ?? node.status?.peer;
    return {
        capacity,
        allocatable: capacity,
        nodeInfo: { agentVersion: identity.agentVersion, containerdVersion: health.containerdVersion ?? '', os: info.os, arch: info.arch, kernelVersion: info.kernelVersion },
        addresses: host.addresses,
        ...(identity.agentEndpoint ? { agentEndpoint: identity.agentEndpoint } : {}),
        ...(peer ? { peer } : {}),
        ...(mirror && Object.keys(mirror).length > 0 ? { mirror } : {}),
        ...(images ? { images } : {}),
        conditions: ownedConditions(node.status?.conditions, conditions),
    };
}
export function reportNodeStatus(client, node, identity, health, extras = {}) {
    return applyStatus(client, nodeType, node, desiredNodeStatus(node, identity, health, extras), agentFieldManager(identity.name));
}
