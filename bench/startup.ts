// Workload start latency with a cached image: apply → status.phase Running (as a watch shows it), for Workloads
// created one after another on one real node: registry + containerd (hack/env.ts), the operator and an agent,
// the image pulled beforehand. Each Workload is deleted (grace 0) and gone before the next one is created.
//
// Baseline, in the same run and on the same containerd: the same container started directly with our containerd
// client (agents/runtime/lifecycle.ts `startIncarnation`: snapshot, container, task, start), no API server.
//
//   node bench/startup.ts [--workloads 50]
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { standardImages } from '../hack/images.ts';
import { ContainerdClient } from '../agents/runtime/containerd/client.ts';
import { detectCgroup } from '../agents/runtime/containerd/cgroup.ts';
import { removeIncarnation, startIncarnation } from '../agents/runtime/lifecycle.ts';
import { normalizeImage } from '../operator/src/api/image-ref.ts';
import { workloadType, type Workload } from '../operator/src/api/generated/types.ts';
import { isNotFound } from '../operator/src/runtime/kube.ts';
import { resourcePath } from '../operator/src/runtime/resource.ts';
import { Milestones, benchNodeLabels, distribution, isRunning, logger, printSummary, ratio, runBench, startBenchNode, workloadBody } from './harness.ts';

const { values: opts } = parseArgs({ options: { workloads: { type: 'string', default: '50' } } });
const count = Number(opts.workloads);
const namespace = 'startup';

await runBench('startup', [namespace], async (cluster) => {
  const { client, log } = cluster;
  const node = await startBenchNode(cluster);
  const ctd = node.env.nodes[0]!.containerd;
  const containerd = await ContainerdClient.connect({ address: ctd.address, namespace: ctd.namespace, logger: logger.child({ component: 'containerd-client' }) });
  cluster.defer(() => containerd.close());
  const image = node.image(standardImages.sleeper);
  await containerd.cri.pullImage(normalizeImage(image));
  const spec = { image, restartPolicy: 'Never', terminationGracePeriodSeconds: 0, nodeSelector: benchNodeLabels } as const;

  // Baseline: one warm-up start, then `count` timed ones, each removed before the next.
  const cgroup = await detectCgroup();
  const direct: number[] = [];
  for (let i = -1; i < count; i++) {
    const workload: Workload = { ...workloadBody('direct', `d${i + 1}`, spec), metadata: { name: `d${i + 1}`, namespace: 'direct', uid: randomUUID() } };
    const began = performance.now();
    const started = await startIncarnation(containerd, normalizeImage(image), {
      workload,
      node: 'bench-direct',
      attempt: 1,
      restart: 0,
      log: join(cluster.dir, 'direct', `${i + 1}.log`),
      cgroup,
      runcRoot: ctd.runcRoot,
    });
    if (i >= 0) direct.push(performance.now() - began);
    await removeIncarnation(containerd, started.id, 0);
  }
  log.info('baseline done', { latencyMs: distribution(direct) });

  // Shoal: create → Running through the API server, the operator's binding and the agent.
  const running = new Milestones(client, namespace, isRunning);
  await running.synced();
  const shoal: number[] = [];
  for (let i = -1; i < count; i++) {
    const name = `w${i + 1}`;
    const began = performance.now();
    await client.request('POST', resourcePath(workloadType, namespace), { body: workloadBody(namespace, name, spec) });
    await running.waitFor(i + 2, 60_000);
    if (i >= 0) shoal.push((running.at.get(`${namespace}/${name}`) ?? Number.NaN) - began);
    await client.request('DELETE', resourcePath(workloadType, namespace, name));
    for (;;) {
      const gone = await client.request('GET', resourcePath(workloadType, namespace, name)).then(() => false, (err: unknown) => isNotFound(err));
      if (gone) break;
      await sleep(20);
    }
  }
  running.stop();
  const shoalMs = distribution(shoal);
  const directMs = distribution(direct);
  printSummary({
    bench: 'startup',
    command: `node bench/startup.ts --workloads ${count}`,
    image: `${standardImages.sleeper} (cached: pulled before the first start)`,
    baseline: { what: 'startIncarnation on the same containerd: snapshot, container, task create and start; no API server', latencyMs: directMs },
    shoal: { what: 'create → the watch shows phase Running: API server, operator bind, agent (finalizer, image check, start, status)', latencyMs: shoalMs },
    ratio: { p50: ratio(shoalMs.p50, directMs.p50), p99: ratio(shoalMs.p99, directMs.p99) },
    target: { p99Ms: 1500 },
    met: { p99: shoalMs.p99 <= 1500 },
  });
});
