// Event handlers that map informer events to reconcile keys.
import type { Controller } from '../runtime/controller.ts';
import type { EventHandler, Informer } from '../runtime/informer.ts';
import { objectKey, type KubeObject } from '../runtime/resource.ts';

/** Enqueues the object itself on every event. */
export function enqueueObject<T extends KubeObject>(controller: Controller): EventHandler<T> {
  const enqueue = (obj: T): void => controller.enqueue(objectKey(obj));
  return { add: enqueue, update: (_old, obj) => enqueue(obj), delete: enqueue };
}

/** Enqueues every object of `owners` whenever something any of them depends on changes. */
export function enqueueAllOf<T extends KubeObject, O extends KubeObject>(controller: Controller, owners: Informer<O>): EventHandler<T> {
  const enqueueAll = (): void => {
    for (const owner of owners.list()) controller.enqueue(objectKey(owner));
  };
  return { add: enqueueAll, update: enqueueAll, delete: enqueueAll };
}
