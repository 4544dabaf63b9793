// Writes to the API: status by server-side apply under our field manager (only when it changed), and
// finalizers by merge patch with a resourceVersion precondition so another controller's finalizer is never lost.
import { isDeepStrictEqual } from 'node:util';
import { ContentType, type KubeClient } from './kube.ts';
import { apiVersionOf, resourcePath, type KubeObject, type ResourceType } from './resource.ts';

export interface WithStatus<S> extends KubeObject {
  status?: S;
}

/**
 * Applies `status` — only the fields this manager owns — to the /status subresource, unless the object already
 * has every one of them (conditions compared per type). The apply carries the read's resourceVersion, so a
 * status computed from a stale cache fails with 409 and is retried; fields of other managers are untouched.
 */
export async function applyStatus<S, T extends WithStatus<S>>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  status: S,
  fieldManager: string,
): Promise<T | undefined> {
  if (statusContains(obj.status, status)) return undefined;
  const { name, namespace, resourceVersion } = obj.metadata;
  const body = {
    apiVersion: apiVersionOf(type),
    kind: type.kind,
    metadata: { name, ...(namespace ? { namespace } : {}), resourceVersion },
    status,
  };
  return client.request<T>('PATCH', resourcePath(type, namespace, name, 'status'), {
    body,
    contentType: ContentType.apply,
    query: { fieldManager, force: true },
  });
}

/** Merge-patches /status under a resourceVersion precondition: for resets that must clear fields other managers set. */
export function patchStatus<T extends KubeObject>(client: KubeClient, type: ResourceType, obj: T, status: Record<string, unknown>): Promise<T> {
  const { name, namespace, resourceVersion } = obj.metadata;
  return client.request<T>('PATCH', resourcePath(type, namespace, name, 'status'), {
    body: { metadata: { resourceVersion }, status },
    contentType: ContentType.mergePatch,
  });
}

/** True when `current` already has every field of `desired`; conditions are matched by type. */
export function statusContains(current: unknown, desired: unknown): boolean {
  const have = stripUndefined(current) as Record<string, unknown> | undefined;
  const want = stripUndefined(desired) as Record<string, unknown> | undefined;
  if (!want) return true;
  if (!have) return false;
  return Object.entries(want).every(([key, value]) => {
    if (key !== 'conditions' || !Array.isArray(value)) return isDeepStrictEqual(have[key], value);
    const conditions = Array.isArray(have[key]) ? (have[key] as { type?: string }[]) : [];
    return (value as { type?: string }[]).every((c) => isDeepStrictEqual(conditions.find((h) => h.type === c.type), c));
  });
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata.finalizers?.includes(finalizer) ?? false;
}

/** Adds `finalizer` if missing; returns the updated object, or the same object when nothing changed. */
export async function addFinalizer<T extends KubeObject>(client: KubeClient, type: ResourceType, obj: T, finalizer: string): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return patchFinalizers(client, type, obj, [...(obj.metadata.finalizers ?? []), finalizer]);
}

export async function removeFinalizer<T extends KubeObject>(client: KubeClient, type: ResourceType, obj: T, finalizer: string): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  return patchFinalizers(client, type, obj, (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer));
}

function patchFinalizers<T extends KubeObject>(client: KubeClient, type: ResourceType, obj: T, finalizers: string[]): Promise<T> {
  const { name, namespace, resourceVersion } = obj.metadata;
  return client.request<T>('PATCH', resourcePath(type, namespace, name), {
    body: { metadata: { finalizers, resourceVersion } },
    contentType: ContentType.mergePatch,
  });
}

// JSON round-trips drop undefined members; compare what the server would store.
function stripUndefined(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
