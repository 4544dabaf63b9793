// The agent's heartbeat: renew our Lease in shoal-node-lease every interval (kubelet's node-lease pattern).
// Only the Lease is written on each beat; Node status is written when something in it changes.
import { nodeLeaseNamespace } from "../../operator/src/controllers/names.js";
import { Backoff, sleep } from "../../operator/src/runtime/backoff.js";
import { kubeMicroTime } from "../../operator/src/runtime/conditions.js";
import { ContentType, isAlreadyExists, isNotFound } from "../../operator/src/runtime/kube.js";
import { coreTypes, resourcePath } from "../../operator/src/runtime/resource.js";
export async function runHeartbeat(options, signal) {
    const { client, node, intervalMs, logger, renewals } = options;
    const backoff = new Backoff({ initialMs: 200, maxMs: intervalMs });
    while (!signal.aborted) {
        try {
            await renewLease(client, node, Math.ceil((intervalMs * 4) / 1000));
            renewals.inc({ result: 'success' });
            backoff.reset();
            options.onRenewed?.();
            await sleep(intervalMs, signal);
        }
        catch (err) {
            renewals.inc({ result: 'error' });
            if (!signal.aborted)
                logger.warn('lease renewal failed', { err });
            await sleep(backoff.next(), signal);
        }
    }
}
export async function renewLease(client, node, leaseDurationSeconds) {
    const renewTime = kubeMicroTime();
    try {
        await client.request('PATCH', resourcePath(coreTypes.lease, nodeLeaseNamespace, node), {
            contentType: ContentType.mergePatch,
            body: { spec: { holderIdentity: node, leaseDurationSeconds, renewTime } },
        });
    }
    catch (err) {
        if (!isNotFound(err))
            throw err;
        const lease = {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: node, namespace: nodeLeaseNamespace },
            spec: { holderIdentity: node, leaseDurationSeconds, renewTime, acquireTime: renewTime },
        };
        await client.request('POST', resourcePath(coreTypes.lease, nodeLeaseNamespace), { body: lease }).catch((e) => {
            if (!isAlreadyExists(e))
                throw e;
        });
    }
}
