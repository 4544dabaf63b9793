// Which cgroup hierarchy the host runs: it decides whether the spec may set a swap limit (v1 needs swap
// accounting, memory.memsw.*) and whether containers get a private cgroup namespace (v2, as CRI does).
import { access } from 'node:fs/promises';
import { join } from 'node:path';

export interface CgroupInfo {
  /** 2 = unified hierarchy (cgroup.controllers at the root); 1 = legacy or hybrid. */
  version: 1 | 2;
  /** Whether a memory+swap limit can be written (v1: memory.memsw.limit_in_bytes exists; v2: runc ignores a missing swap file for "0"). */
  swapLimit: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Inspects `root` (default /sys/fs/cgroup). */
export async function detectCgroup(root = '/sys/fs/cgroup'): Promise<CgroupInfo> {
  if (await exists(join(root, 'cgroup.controllers'))) return { version: 2, swapLimit: true };
  return { version: 1, swapLimit: await exists(join(root, 'memory', 'memory.memsw.limit_in_bytes')) };
}
