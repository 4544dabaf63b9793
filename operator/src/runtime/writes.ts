// Writes to the API: status by server-side apply under our field manager (only when it changed), and
// finalizers by merge patch with a resourceVersion precondition so another controller's finalizer is never lost.
import { isDeepStrictEqual } from 'node:util';
import { ContentType, type KubeClient } from './kube.ts';
import { apiVersionOf, resourcePath, type KubeObject, type ResourceType } from './resource.ts';

export interface WithStatus<S> extends KubeObject {
  status?: S;
}

/**
 * Applies `status` to the object's /status subresource unless it equals what the object already has.
 * The apply carries the object's resourceVersion: a write computed from a stale read fails with 409 and is retried.
 */
export async function applyStatus<S, T extends WithStatus<S>>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
  status: S,
  fieldManager: string,
): Promise<T | undefined> {
  if (isDeepStrictEqual(stripUndefined(obj.status), stripUndefined(status))) return undefined;
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
