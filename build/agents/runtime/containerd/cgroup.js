// Which cgroup hierarchy the host runs: it decides whether the spec may set a swap limit (v1 needs swap
// accounting, memory.memsw.*) and whether containers get a private cgroup namespace (v2, as CRI does).
import { access } from 'node:fs/promises';
import { join } from 'node:path';
async function exists(path) {
    try {
        await access(path);
        return true;
    }
    catch {
        return false;
    }
}
/** Inspects `root` (default /sys/fs/cgroup). */
export async function detectCgroup(root = '/sys/fs/cgroup') {
    if (await exists(join(root, 'cgroup.controllers')))
        return { version: 2, swapLimit: true };
    return { version: 1, swapLimit: await exists(join(root, 'memory', 'memory.memsw.limit_in_bytes')) };
}
