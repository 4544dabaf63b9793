// metav1.Condition helpers: lastTransitionTime moves only when status flips, as the API conventions require.
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 at second precision, as metav1.Time serialises. */
export function kubeTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 with microseconds, as metav1.MicroTime (Lease and Event times) requires. */
export function kubeMicroTime(date: Date = new Date()): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Returns a new list with `input` set; the other conditions and their order are kept. */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: Date = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const existing = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = existing && existing.status === input.status ? existing.lastTransitionTime : kubeTime(now);
  const next: Condition = { ...input, lastTransitionTime };
  if (existing) list[index] = next;
  else list.push(next);
  return list;
}

export function setConditions(conditions: readonly Condition[] | undefined, inputs: readonly ConditionInput[], now: Date = new Date()): Condition[] {
  return inputs.reduce<Condition[]>((list, input) => setCondition(list, input, now), [...(conditions ?? [])]);
}

/** Just the conditions in `inputs`, with transition times carried over from `existing`: what one manager applies. */
export function ownedConditions(existing: readonly Condition[] | undefined, inputs: readonly ConditionInput[], now: Date = new Date()): Condition[] {
  const types = new Set(inputs.map((c) => c.type));
  return setConditions(existing, inputs, now).filter((c) => types.has(c.type));
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
