// What this host offers and is: capacity, system info and addresses, for the Node CR.
import { cpus, networkInterfaces, release, totalmem, hostname, arch, platform } from 'node:os';
import { readFileSync } from 'node:fs';
/** CPUs and memory of this host, or of the cgroup the agent runs in when that is smaller (a container limit). */
export function hostCapacity() {
    const cgroupCpu = readCgroupCpuLimit();
    const cgroupMemory = readCgroupMemoryLimit();
    const milliCpu = Math.min(cpus().length * 1000, cgroupCpu ?? Infinity);
    return { milliCpu, memoryBytes: Math.min(totalmem(), cgroupMemory ?? Infinity) };
}
export function hostInfo() {
    return { os: platform(), arch: arch() === 'x64' ? 'amd64' : arch(), kernelVersion: release(), hostname: hostname() };
}
/** Non-loopback IPv4 addresses first, then IPv6, as InternalIP. */
export function hostAddresses() {
    const found = [];
    for (const entries of Object.values(networkInterfaces())) {
        for (const entry of entries ?? []) {
            if (entry.internal || (entry.family === 'IPv6' && entry.address.startsWith('fe80')))
                continue;
            found.push({ type: 'InternalIP', address: entry.address, v6: entry.family === 'IPv6' });
        }
    }
    found.sort((a, b) => Number(a.v6) - Number(b.v6));
    return [...found.map(({ type, address }) => ({ type, address })), { type: 'Hostname', address: hostname() }];
}
function readCgroupCpuLimit() {
    const max = readText('/sys/fs/cgroup/cpu.max');
    const [quota, period] = max?.split(/\s+/) ?? [];
    if (!quota || quota === 'max' || !period)
        return undefined;
    return Math.floor((Number(quota) / Number(period)) * 1000);
}
function readCgroupMemoryLimit() {
    const max = readText('/sys/fs/cgroup/memory.max');
    return max && max !== 'max' ? Number(max) : undefined;
}
function readText(path) {
    try {
        return readFileSync(path, 'utf8').trim();
    }
    catch {
        return undefined;
    }
}
