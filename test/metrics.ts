// Reading Prometheus metrics in tests: from a prom-client Registry in the test process, or from the text a
// process serves on /metrics. Both sum the samples whose labels include every label given.
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

/** Sum of `name`'s samples in `registry`; histogram samples (`…_count`, `…_sum`) by their own names. */
export async function registryMetric(registry: Registry, name: string, labels: Labels = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name || name.startsWith(`${m.name}_`));
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number>; metricName?: string }[];
  return values
    .filter((v) => (v.metricName ?? metric?.name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Sum of `name`'s samples in a text exposition (`name{a="b"} 3`). */
export function textMetric(text: string, name: string, labels: Labels = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map([...(match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, want]) => have.get(k) === want)) sum += Number(match[4]);
  }
  return sum;
}
