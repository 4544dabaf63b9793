// Writes to the API: status by server-side apply under our field manager (only when it changed), and
// finalizers by merge patch with a resourceVersion precondition so another controller's finalizer is never lost.
import { isDeepStrictEqual } from 'node:util';
import { ContentType } from "./kube.js";
import { apiVersionOf, resourcePath } from "./resource.js";
/**
 * Applies `status` — only the fields this manager owns — to the /status subresource, unless the object already
 * has every one of them (conditions compared per type). The apply carries the read's resourceVersion, so a
 * status computed from a stale cache fails with 409 and is retried; fields of other managers are untouched.
 */
export async function applyStatus(client, type, obj, status, fieldManager) {
    if (statusContains(obj.status, status))
        return undefined;
    const { name, namespace, resourceVersion } = obj.metadata;
    const body = {
        apiVersion: apiVersionOf(type),
        kind: type.kind,
        metadata: { name, ...(namespace ? { namespace } : {}), resourceVersion },
        status,
    };
    return client.request('PATCH', resourcePath(type, namespace, name, 'status'), {
        body,
        contentType: ContentType.apply,
        query: { fieldManager, force: true },
    });
}
/** Merge-patches /status under a resourceVersion precondition: for resets that must clear fields other managers set. */
export function patchStatus(client, type, obj, status) {
    const { name, namespace, resourceVersion } = obj.metadata;
    return client.request('PATCH', resourcePath(type, namespace, name, 'status'), {
        body: { metadata: { resourceVersion }, status },
        contentType: ContentType.mergePatch,
    });
}
/** True when `current` already has every field of `desired`; conditions are matched by type. */
export function statusContains(current, desired) {
    const have = stripUndefined(current);
    const want = stripUndefined(desired);
    if (!want)
        return true;
    if (!have)
        return false;
    return Object.entries(want).every(([key, value]) => {
        if (key !== 'conditions' || !Array.isArray(value))
            return isDeepStrictEqual(have[key], value);
        const conditions = Array.isArray(have[key]) ? have[key] : [];
        return value.every((c) => isDeepStrictEqual(conditions.find((h) => h.type === c.type), c));
    });
}
export function hasFinalizer(obj, finalizer) {
    return obj.metadata.finalizers?.includes(finalizer) ?? false;
}
/** Adds `finalizer` if missing; returns the updated object, or the same object when nothing changed. */
export async function addFinalizer(client, type, obj, finalizer) {
    if (hasFinalizer(obj, finalizer))
        return obj;
    return patchFinalizers(client, type, obj, [...(obj.metadata.finalizers ?? []), finalizer]);
}
export async function removeFinalizer(client, type, obj, finalizer) {
    if (!hasFinalizer(obj, finalizer))
        return obj;
    return patchFinalizers(client, type, obj, (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer));
}
function patchFinalizers(client, type, obj, finalizers) {
    const { name, namespace, resourceVersion } = obj.metadata;
    return client.request('PATCH', resourcePath(type, namespace, name), {
        body: { metadata: { finalizers, resourceVersion } },
        contentType: ContentType.mergePatch,
    });
}
// JSON round-trips drop undefined members; compare what the server would store.
function stripUndefined(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
