// What this host offers and is: capacity, system info and addresses, for the Node CR.
import { cpus, networkInterfaces, release, totalmem, hostname, arch, platform } from 'node:os';
import { readFileSync } from 'node:fs';

export interface HostCapacity {
  milliCpu: number;
  memoryBytes: number;
}

/** CPUs and memory of this host, or of the cgroup the agent runs in when that is smaller (a container limit). */
export function hostCapacity(): HostCapacity {
  const cgroupCpu = readCgroupCpuLimit();
  const cgroupMemory = readCgroupMemoryLimit();
  const milliCpu = Math.min(cpus().length * 1000, cgroupCpu ?? Infinity);
  return { milliCpu, memoryBytes: Math.min(totalmem(), cgroupMemory ?? Infinity) };
}

export function hostInfo(): { os: string; arch: string; kernelVersion: string; hostname: string } {
  return { os: platform(), arch: arch() === 'x64' ? 'amd64' : arch(), kernelVersion: release(), hostname: hostname() };
}

/** Non-loopback IPv4 addresses first, then IPv6, as InternalIP. */
export function hostAddresses(): { type: 'InternalIP' | 'Hostname'; address: string }[] {
  const found: { type: 'InternalIP'; address: string; v6: boolean }[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal || (entry.family === 'IPv6' && entry.address.startsWith('fe80'))) continue;
      found.push({ type: 'InternalIP', address: entry.address, v6: entry.family === 'IPv6' });
    }
  }
  found.sort((a, b) => Number(a.v6) - Number(b.v6));
  return [...found.map(({ type, address }) => ({ type, address })), { type: 'Hostname', address: hostname() }];
}

function readCgroupCpuLimit(): number | undefined {
  const max = readText('/sys/fs/cgroup/cpu.max');
  const [quota, period] = max?.split(/\s+/) ?? [];
  if (!quota || quota === 'max' || !period) return undefined;
  return Math.floor((Number(quota) / Number(period)) * 1000);
}

function readCgroupMemoryLimit(): number | undefined {
  const max = readText('/sys/fs/cgroup/memory.max');
  return max && max !== 'max' ? Number(max) : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The address clients use: the bound one, or this node's first InternalIP when bound to every interface. */
export function advertisedHost(bindHost: string, addresses = hostAddresses()): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '') return bindHost;
  const internal = addresses.find((a) => a.type === 'InternalIP');
  return internal?.address ?? hostInfo().hostname;
}
