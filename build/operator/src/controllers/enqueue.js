import { objectKey } from "../runtime/resource.js";
/** Enqueues the object itself on every event. */
export function enqueueObject(controller) {
    const enqueue = (obj) => controller.enqueue(objectKey(obj));
    return { add: enqueue, update: (_old, obj) => enqueue(obj), delete: enqueue };
}
/** Enqueues every object of `owners` whenever something any of them depends on changes. */
export function enqueueAllOf(controller, owners) {
    const enqueueAll = () => {
        for (const owner of owners.list())
            controller.enqueue(objectKey(owner));
    };
    return { add: enqueueAll, update: enqueueAll, delete: enqueueAll };
}
