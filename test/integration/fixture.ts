// Shared control plane for the integration tests: one real etcd + kube-apiserver per mocha run,
// with the CRDs from crds/ installed. Load the root hook with `mocha --require test/integration/fixture.ts`
// so the control plane is stopped after the run (a process 'exit' hook SIGKILLs it otherwise).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, installCRDs, type ControlPlaneUser } from '../../hack/controlplane.ts';
import { createLogger } from '../../operator/src/runtime/log.ts';
import { isAlreadyExists, type KubeClient } from '../../operator/src/runtime/kube.ts';
import { coreTypes, resourcePath } from '../../operator/src/runtime/resource.ts';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** Token-file users of the shared control plane besides `admin` (system:masters) and `alice` (no groups). */
export const fixtureUsers: ControlPlaneUser[] = [{ name: 'bob' }];

const logger = createLogger({ component: 'fixture' });
let shared: Promise<ControlPlane> | undefined;

/** The control plane shared by every test of this mocha run, started (and CRDs installed) on first use. */
export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= (async () => {
    const began = performance.now();
    const dir = await mkdtemp(join(tmpdir(), 'shoal-it-'));
    const cp = await ControlPlane.start({ dir, extraUsers: fixtureUsers, logger: logger.child({ dir }) });
    try {
      const crds = await installCRDs(cp, join(repoRoot, 'crds'));
      logger.info('shared control plane ready', { dir, server: cp.server, crds, ms: Math.round(performance.now() - began) });
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  })();
  return shared;
}

function anyFailed(suite: Mocha.Suite): boolean {
  return suite.tests.some((t) => t.state === 'failed') || suite.suites.some(anyFailed);
}

/** Mocha root hook plugin: stops the shared control plane; keeps its dir (logs) if a test failed or SHOAL_KEEP_TMP is set. */
export const mochaHooks: Mocha.RootHookObject = {
  async afterAll(this: Mocha.Context) {
    const pending = shared;
    shared = undefined;
    if (!pending) return;
    let cp: ControlPlane;
    try {
      cp = await pending;
    } catch {
      return; // start failed and already cleaned up its processes
    }
    await cp.stop();
    const root = this.test?.parent;
    if (process.env['SHOAL_KEEP_TMP'] || (root && anyFailed(root))) {
      logger.info('kept control-plane dir for inspection', { dir: cp.dir });
    } else {
      await rm(cp.dir, { recursive: true, force: true });
    }
  },
};

/** A @kubernetes/client-node KubeConfig for a token-file user (default admin) of `cp`. */
export function makeKubeConfig(cp: ControlPlane, user: string = 'admin'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigFor(user));
  return kc;
}

export interface WaitForOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Default 100 ms. */
  intervalMs?: number;
  /** Described in the timeout error, e.g. "workload web to become Ready". */
  what?: string;
}

/**
 * Polls `fn` until it returns a value other than undefined, null or false (thrown errors count as
 * "not yet") and returns it; on timeout throws with `what`, the last value and the last error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError !== undefined ? `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}` : `last value: ${String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'} (${detail})`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** POSTs `body` to `path` unless the object already exists (tests share one control plane). */
export async function createIfMissing(client: KubeClient, path: string, body: unknown): Promise<void> {
  await client.request('POST', path, { body }).catch((err: unknown) => {
    if (!isAlreadyExists(err)) throw err;
  });
}

export async function ensureNamespaces(client: KubeClient, names: readonly string[]): Promise<void> {
  for (const name of names) await createIfMissing(client, resourcePath(coreTypes.namespace), { metadata: { name } });
}
