/** RFC 3339 at second precision, as metav1.Time serialises. */
export function kubeTime(date = new Date()) {
    return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** RFC 3339 with microseconds, as metav1.MicroTime (Lease and Event times) requires. */
export function kubeMicroTime(date = new Date()) {
    return date.toISOString().replace(/Z$/, '000Z');
}
export function findCondition(conditions, type) {
    return conditions?.find((c) => c.type === type);
}
export function isConditionTrue(conditions, type) {
    return findCondition(conditions, type)?.status === 'True';
}
/** Returns a new list with `input` set; the other conditions and their order are kept. */
export function setCondition(conditions, input, now = new Date()) {
    const list = [...(conditions ?? [])];
    const index = list.findIndex((c) => c.type === input.type);
    const existing = index >= 0 ? list[index] : undefined;
    const lastTransitionTime = existing && existing.status === input.status ? existing.lastTransitionTime : kubeTime(now);
    const next = { ...input, lastTransitionTime };
    if (existing)
        list[index] = next;
    else
        list.push(next);
    return list;
}
export function setConditions(conditions, inputs, now = new Date()) {
    return inputs.reduce((list, input) => setCondition(list, input, now), [...(conditions ?? [])]);
}
/** Just the conditions in `inputs`, with transition times carried over from `existing`: what one manager applies. */
export function ownedConditions(existing, inputs, now = new Date()) {
    const types = new Set(inputs.map((c) => c.type));
    return setConditions(existing, inputs, now).filter((c) => types.has(c.type));
}
export function removeCondition(conditions, type) {
    return (conditions ?? []).filter((c) => c.type !== type);
}
