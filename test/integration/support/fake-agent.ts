// A stand-in for a node agent: registers a Node CR with capacity, reports Ready, and renews its Lease —
// exactly the API traffic of the real agent, without containers. Used for scheduler and lifecycle tests.
import { nodeType, type Node } from '../../../operator/src/api/generated/types.ts';
import { renewLease } from '../../../agents/node/heartbeat.ts';
import { kubeTime } from '../../../operator/src/runtime/conditions.ts';
import { ContentType, type KubeClient } from '../../../operator/src/runtime/kube.ts';
import { resourcePath } from '../../../operator/src/runtime/resource.ts';

export interface FakeAgentOptions {
  labels?: Record<string, string>;
  cpu?: string;
  memory?: string;
  workloads?: number;
  renewEveryMs?: number;
}

export class FakeAgent {
  readonly name: string;
  readonly #client: KubeClient;
  #timer: NodeJS.Timeout | undefined;

  private constructor(client: KubeClient, name: string) {
    this.#client = client;
    this.name = name;
  }

  static async start(client: KubeClient, name: string, options: FakeAgentOptions = {}): Promise<FakeAgent> {
    const agent = new FakeAgent(client, name);
    const node: Node = { apiVersion: 'shoal.dev/v1alpha1', kind: 'Node', metadata: { name, labels: options.labels ?? {} }, spec: {} };
    await client.request('POST', resourcePath(nodeType), { body: node });
    const allocatable = { cpu: options.cpu ?? '2', memory: options.memory ?? '4Gi', workloads: options.workloads ?? 50 };
    await client.request('PATCH', resourcePath(nodeType, undefined, name, 'status'), {
      contentType: ContentType.apply,
      query: { fieldManager: `shoal-agent/${name}`, force: true },
      body: {
        apiVersion: 'shoal.dev/v1alpha1',
        kind: 'Node',
        metadata: { name },
        status: { capacity: allocatable, allocatable, conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'fake agent', lastTransitionTime: kubeTime() }] },
      },
    });
    await agent.renew();
    agent.#timer = setInterval(() => void agent.renew().catch(() => {}), options.renewEveryMs ?? 2_000);
    return agent;
  }

  /** The real agent's renewal (PATCH, create when missing): the same API traffic per beat. */
  renew(): Promise<void> {
    return renewLease(this.#client, this.name, 40);
  }

  /** Stops heartbeats, as a crashed or partitioned agent would. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
