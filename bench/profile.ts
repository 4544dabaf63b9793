// Where a process spends its CPU: summarizes a V8 `.cpuprofile` (from `node --cpu-prof`) into the functions with
// the most self time, and the repository functions with the most inclusive time (self plus callees), by file:line.
//
//   node bench/profile.ts <file.cpuprofile> [--top 20]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot } from './harness.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  /** `function file:line` (1-based line; repo-relative file, or node:/internal) */
  where: string;
  ms: number;
  /** Share of all sampled time, idle included. */
  percent: number;
}

export interface ProfileSummary {
  sampledMs: number;
  idlePercent: number;
  /** Most self time: what the CPU was executing. */
  self: HotSpot[];
  /** Repository functions with the most inclusive time: which of our code paths it was spent under. */
  inclusive: HotSpot[];
}

function place(frame: ProfileNode['callFrame']): string {
  let file = frame.url;
  if (file.startsWith('file://')) file = relative(repoRoot, fileURLToPath(file));
  const name = frame.functionName || '(anonymous)';
  return file ? `${name} ${file}:${frame.lineNumber + 1}` : name;
}

const isRepoFrame = (frame: ProfileNode['callFrame']): boolean =>
  frame.url.startsWith('file://') && !frame.url.includes('/node_modules/') && fileURLToPath(frame.url).startsWith(repoRoot);

/** `lastMs`: only the samples of the profile's last that many milliseconds (a window that ended at the exit). */
export function summarizeProfile(profile: CpuProfile, top = 20, lastMs?: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const times: number[] = [];
  profile.samples.reduce((t, _, i) => (times[i] = t + (profile.timeDeltas[i] ?? 0)), profile.startTime);
  const from = lastMs === undefined ? -Infinity : (times.at(-1) ?? profile.endTime) - lastMs * 1000;
  profile.samples.forEach((id, i) => {
    if ((times[i] ?? 0) < from) return;
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    total += delta;
    const node = byId.get(id);
    if (!node) return;
    if (node.callFrame.functionName === '(idle)') idle += delta;
    const key = place(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + delta);
    // Each repository function once per sample, however deep it recurses.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (!frame || !isRepoFrame(frame)) continue;
      const where = place(frame);
      if (seen.has(where)) continue;
      seen.add(where);
      inclusive.set(where, (inclusive.get(where) ?? 0) + delta);
    }
  });
  const rank = (m: Map<string, number>): HotSpot[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([where, ms]) => ({ where, ms: Math.round(ms), percent: Math.round((1000 * ms) / total) / 10 }));
  return { sampledMs: Math.round(total), idlePercent: Math.round((1000 * idle) / total) / 10, self: rank(self), inclusive: rank(inclusive) };
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } });
  const file = positionals[0];
  if (!file) {
    console.error('usage: node bench/profile.ts <file.cpuprofile> [--top 20]');
    process.exit(2);
  }
  process.stdout.write(`${JSON.stringify(summarizeProfile(readProfile(file), Number(values.top)), null, 2)}\n`);
}
