// Creating and removing one container incarnation: image → snapshot → container → task, and back.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { normalizeImage } from "../../operator/src/api/image-ref.js";
import { bytes, milliCpu } from "../../operator/src/api/quantity.js";
import { isAlreadyExists, isNotFound } from "./containerd/errors.js";
import { resolveImage } from "./containerd/image.js";
import { defaultSnapshotter } from "./containerd/snapshots.js";
import { runcOptions, runcRuntime } from "./containerd/containers.js";
import { buildSpec } from "./containerd/spec.js";
import { stdioFile } from "./containerd/tasks.js";
import { containerId, containerLabels } from "./naming.js";
export class StartError extends Error {
    name = 'StartError';
}
/** Makes sure the image is present, as spec.imagePullPolicy says. Pulls go through CRI, so hosts.toml mirrors apply. */
export async function ensureImage(containerd, workload) {
    const name = normalizeImage(workload.spec.image);
    const policy = workload.spec.imagePullPolicy ?? 'IfNotPresent';
    if (policy !== 'Always' && (await containerd.cri.imageStatus(name)))
        return { name, pulled: false };
    if (policy === 'Never')
        throw new StartError(`image ${name} is not present and imagePullPolicy is Never`);
    await containerd.cri.pullImage(name, {}, { timeoutMs: 15 * 60_000 });
    return { name, pulled: true };
}
/** Creates snapshot, container and task, and starts it. Idempotent per incarnation (AlreadyExists is reused). */
export async function startIncarnation(containerd, image, input) {
    const { workload, node, attempt, restart, log, cgroup, runcRoot } = input;
    const uid = workload.metadata.uid ?? '';
    const id = containerId(uid, attempt, restart);
    const resolved = await resolveImage(containerd, image);
    const requests = workload.spec.resources?.requests;
    const limits = workload.spec.resources?.limits;
    const spec = buildSpec({
        id,
        image: resolved.imageConfig,
        command: workload.spec.command,
        args: workload.spec.args,
        env: Object.fromEntries((workload.spec.env ?? []).map((e) => [e.name, e.value ?? ''])),
        workingDir: workload.spec.workingDir,
        hostname: (workload.metadata.name ?? id).slice(0, 63),
        cgroup,
        resources: {
            cpuRequestMillis: milliCpu(requests?.cpu, 100),
            cpuLimitMillis: limits?.cpu === undefined ? undefined : milliCpu(limits.cpu),
            memoryLimitBytes: limits?.memory === undefined ? undefined : bytes(limits.memory),
        },
    });
    const labels = containerLabels(workload, node, attempt, restart);
    const runtime = runcRoot ? { name: runcRuntime, options: runcOptions({ root: runcRoot }) } : undefined;
    const mounts = await prepareContainer(containerd, { id, labels, image, spec, chainId: resolved.chainId, runtime });
    await mkdir(dirname(log), { recursive: true });
    try {
        await containerd.tasks.create({ containerId: id, rootfs: mounts, stdout: stdioFile(log), stderr: stdioFile(log) });
        await containerd.tasks.start(id);
    }
    catch (err) {
        // runc reports a missing executable here; the incarnation never ran, so it is removed and reported.
        await removeIncarnation(containerd, id, 0);
        throw new StartError(err instanceof Error ? err.message : String(err));
    }
    return { id, imageDigest: resolved.manifest.digest };
}
/** Rootfs snapshot plus container record; returns the rootfs mounts for the task. */
async function prepareContainer(containerd, c) {
    // Until the container references the snapshot, only a lease keeps containerd's GC from collecting it
    // (a CRI pull ending nearby triggers a GC); the Go client does the same. It expires if we crash meanwhile.
    const lease = await containerd.leases.create({ expiresInMs: 10 * 60_000 });
    const leased = containerd.withLease(lease.id);
    try {
        // A half-finished earlier try of this incarnation left these behind: reuse them.
        const mounts = await leased.snapshots.prepare(defaultSnapshotter, c.id, c.chainId, c.labels).catch((err) => {
            if (!isAlreadyExists(err))
                throw err;
            return leased.snapshots.mounts(defaultSnapshotter, c.id);
        });
        const record = { id: c.id, labels: c.labels, image: c.image, spec: c.spec, snapshotter: defaultSnapshotter, snapshotKey: c.id, ...(c.runtime ? { runtime: c.runtime } : {}) };
        await leased.containers.create(record).catch((err) => {
            if (!isAlreadyExists(err))
                throw err;
        });
        return mounts;
    }
    finally {
        await containerd.leases.delete(lease.id).catch(() => undefined);
    }
}
/** Stops (SIGTERM, then SIGKILL after the grace period) and removes task, container and snapshot. */
export async function removeIncarnation(containerd, id, graceSeconds) {
    let exit;
    try {
        const task = await containerd.tasks.get(id);
        if (task.status === 'running' || task.status === 'paused')
            exit = await stop(containerd, id, graceSeconds);
        else if (task.status === 'stopped')
            exit = { exitStatus: task.exitStatus, ...(task.exitedAt ? { exitedAt: task.exitedAt } : {}) };
        await containerd.tasks.delete(id).catch(ignoreNotFound);
    }
    catch (err) {
        ignoreNotFound(err);
    }
    await containerd.containers.delete(id).catch(ignoreNotFound);
    await containerd.snapshots.remove(defaultSnapshotter, id).catch(ignoreNotFound);
    return exit;
}
async function stop(containerd, id, graceSeconds) {
    const waiting = containerd.tasks.wait(id, { timeoutMs: null });
    await containerd.tasks.kill(id, 'SIGTERM').catch(ignoreNotFound);
    const timer = new Promise((resolve) => setTimeout(() => resolve(undefined), graceSeconds * 1000).unref());
    const exited = await Promise.race([waiting, timer]);
    if (exited)
        return exited;
    await containerd.tasks.kill(id, 'SIGKILL', { all: true }).catch(ignoreNotFound);
    return waiting;
}
function ignoreNotFound(err) {
    if (!isNotFound(err))
        throw err;
    return undefined;
}
