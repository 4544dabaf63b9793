// MirrorPolicy controller: accepts or rejects each policy (schema, and conflicts with older policies that
// configure the same registry on the same node) and reports how many selected nodes run a ready mirror, what
// they advertise and how far their preheat pulls are (operator/src/mirror/aggregate.ts).
import { validatorFor } from '../api/validators.ts';
import { mirrorPolicyType, nodeType, type MirrorPolicy, type MirrorPolicyStatus, type Node } from '../api/generated/types.ts';
import { advertisedImages, advertisedKeys, preheatedCondition, preheatSummary } from '../mirror/aggregate.ts';
import { isLive, olderThan, selectsNode } from '../mirror/selection.ts';
import { isConditionTrue, ownedConditions, type ConditionInput } from '../runtime/conditions.ts';
import { Controller, type ReconcileContext, type ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Manager } from '../runtime/manager.ts';
import { objectKey } from '../runtime/resource.ts';
import { applyStatus } from '../runtime/writes.ts';
import { enqueueAllOf } from './enqueue.ts';
import { fieldManager } from './names.ts';

const validate = validatorFor('MirrorPolicy');

export function mirrorPolicyController(manager: Manager): Controller {
  const policies = manager.informers.for<MirrorPolicy>(mirrorPolicyType);
  const nodes = manager.informers.for<Node>(nodeType);
  const controller = new Controller({
    name: 'mirrorpolicy',
    logger: manager.logger,
    metrics: manager.metrics,
    reconcile: (ctx) => reconcileMirrorPolicy(ctx, { manager, policies, nodes }),
  });
  // Policies are few and each one's conflicts depend on every policy and node: any change re-evaluates them all.
  policies.addHandler(enqueueAllOf(controller, policies));
  nodes.addHandler(enqueueAllOf(controller, policies));
  manager.addLeaderRunnable((signal) => controller.run(signal));
  return controller;
}

interface Deps {
  manager: Manager;
  policies: Informer<MirrorPolicy>;
  nodes: Informer<Node>;
}

export async function reconcileMirrorPolicy({ key, log }: ReconcileContext, { manager, policies, nodes }: Deps): Promise<ReconcileResult> {
  const policy = policies.get(key);
  if (!policy) return {}; // deleted: agents restore their own containerd config when no policy selects them
  if (policy.metadata.deletionTimestamp) return {};

  const generation = policy.metadata.generation ?? 0;
  const problems = specProblems(policy, policies.list(), nodes.list());
  const selected = nodes.list().filter((node) => selectsNode(policy, node.metadata.labels));
  const ready = selected.filter((node) => isConditionTrue(node.status?.conditions, 'MirrorReady'));
  const preheat = preheatSummary(policy, selected);
  const preheated = preheatedCondition(policy, preheat, selected.length, generation);

  const status: MirrorPolicyStatus = {
    observedGeneration: generation,
    nodesSelected: selected.length,
    nodesReady: ready.length,
    registries: policy.spec.registries.map((r) => r.host).join(','),
    advertisedImages: advertisedImages(policy, selected),
    advertisedKeys: advertisedKeys(selected),
    ...(preheat.entries.length > 0 ? { preheat: preheat.entries } : {}),
    conditions: ownedConditions(policy.status?.conditions, [
      accepted(problems, generation),
      readiness(problems, selected.length, ready.length, generation),
      ...(preheated ? [preheated] : []),
    ]),
  };
  const updated = await applyStatus(manager.client, mirrorPolicyType, policy, status, fieldManager);
  if (updated) log.info('status updated', { accepted: problems.length === 0, nodesSelected: selected.length, nodesReady: ready.length });
  return {};
}

function accepted(problems: Problem[], observedGeneration: number): ConditionInput {
  const first = problems[0];
  if (!first) return { type: 'Accepted', status: 'True', reason: 'Valid', message: 'The policy is valid and does not conflict with another policy.', observedGeneration };
  return { type: 'Accepted', status: 'False', reason: first.reason, message: problems.map((p) => p.message).join('; '), observedGeneration };
}

function readiness(problems: Problem[], selected: number, ready: number, observedGeneration: number): ConditionInput {
  if (problems.length) return { type: 'Ready', status: 'False', reason: 'NotAccepted', message: 'The policy is not accepted; see the Accepted condition.', observedGeneration };
  if (selected === 0) return { type: 'Ready', status: 'False', reason: 'NoNodesSelected', message: 'No Shoal node matches spec.nodeSelector.', observedGeneration };
  if (ready < selected) {
    return { type: 'Ready', status: 'False', reason: 'NodesNotReady', message: `${ready} of ${selected} selected nodes serve the mirror.`, observedGeneration };
  }
  return { type: 'Ready', status: 'True', reason: 'MirrorsReady', message: `All ${selected} selected nodes serve the mirror.`, observedGeneration };
}

interface Problem {
  reason: 'InvalidSpec' | 'Conflict';
  message: string;
}

/** Schema errors (defence in depth behind the API server), then registries an older policy already configures on a shared node. */
export function specProblems(policy: MirrorPolicy, all: MirrorPolicy[], nodes: Node[]): Problem[] {
  const result = validate(policy);
  if (!result.valid) return result.errors.map((message) => ({ reason: 'InvalidSpec', message }));
  const mine = new Set(policy.spec.registries.map((r) => r.host));
  const myNodes = new Set(nodes.filter((n) => selectsNode(policy, n.metadata.labels)).map(objectKey));
  const problems: Problem[] = [];
  for (const other of all) {
    if (other === policy || !olderThan(other, policy) || !isLive(other)) continue;
    const shared = other.spec.registries.map((r) => r.host).filter((host) => mine.has(host));
    if (shared.length === 0) continue;
    const overlap = nodes.some((n) => myNodes.has(objectKey(n)) && selectsNode(other, n.metadata.labels));
    if (overlap) {
      problems.push({ reason: 'Conflict', message: `registries ${shared.join(', ')} are already mirrored on some of the same nodes by MirrorPolicy ${other.metadata.name}` });
    }
  }
  return problems;
}
