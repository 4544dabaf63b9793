// Tasks service: the running process of a container, owned by its runc shim (which outlives containerd
// restarts). create → start → wait/kill → delete; a task must be deleted before its container.
import { constants as osConstants } from 'node:os';
import { pathToFileURL } from 'node:url';
import { bool, message, messages, num, optionalMessage, str, timestamp } from "./decode.js";
import { encodeMount } from "./types.js";
/** The stdio URI for a log file: absolute path, percent-encoded (Go's url.Parse decodes it back). */
export function stdioFile(path) {
    return pathToFileURL(path).href;
}
/** Signal name or number → number (Linux numbering, from os.constants). */
export function signalNumber(signal) {
    if (typeof signal === 'number')
        return signal;
    const n = osConstants.signals[signal];
    if (n === undefined)
        throw new Error(`unknown signal ${signal}`);
    return n;
}
/** "SIGTERM" for 143 (= 128 + 15); undefined for ordinary exit codes. */
export function signalFromExitStatus(exitStatus) {
    if (exitStatus <= 128 || exitStatus > 128 + 64)
        return undefined;
    const n = exitStatus - 128;
    for (const [name, value] of Object.entries(osConstants.signals))
        if (value === n)
            return name;
    return undefined;
}
/**
 * The shim picks the stdio kind from stdout's URI alone. With a file:// stdout and an empty stderr the
 * containerd 1.6 shim dereferences a nil pipe and panics (task create fails "ttrpc: closed"), so we send
 * stdout's URI for stderr too; a file:// stderr with another stdout would be misread, so we refuse it.
 */
export function normalizeStdio(stdout, stderr) {
    const isFile = (uri) => uri.startsWith('file:');
    if (isFile(stdout)) {
        if (stderr !== '' && stderr !== stdout)
            throw new Error(`file:// stdio sends stderr to stdout's file; pass the same URI for both (or none for stderr), got ${stderr}`);
        return { stdout, stderr: stdout };
    }
    if (isFile(stderr))
        throw new Error('file:// stderr needs the same file:// stdout (the shim reads the scheme from stdout)');
    return { stdout, stderr };
}
function taskStatus(value) {
    const lower = value.toLowerCase();
    return lower === 'created' || lower === 'running' || lower === 'stopped' || lower === 'paused' || lower === 'pausing' ? lower : 'unknown';
}
/** containerd fills `id` (= container id for the init process) but not `container_id` in Get/List. */
function decodeProcess(value, containerIdHint = '') {
    const p = message(value, 'process');
    const exitedAt = timestamp(p, 'exited_at');
    const id = str(p, 'id');
    const containerId = str(p, 'container_id') || containerIdHint || id;
    return {
        containerId,
        execId: id === containerId ? '' : id,
        pid: num(p, 'pid'),
        status: taskStatus(str(p, 'status')),
        stdin: str(p, 'stdin'),
        stdout: str(p, 'stdout'),
        stderr: str(p, 'stderr'),
        terminal: bool(p, 'terminal'),
        exitStatus: num(p, 'exit_status'),
        ...(exitedAt ? { exitedAt } : {}),
    };
}
function decodeExit(res) {
    const exitStatus = num(res, 'exit_status');
    const exitedAt = timestamp(res, 'exited_at');
    const signal = signalFromExitStatus(exitStatus);
    return { exitStatus, ...(exitedAt ? { exitedAt } : {}), ...(signal ? { signal } : {}) };
}
export class Tasks {
    #rpc;
    constructor(rpc) {
        this.#rpc = rpc;
    }
    /** Starts the shim and runc-creates the container (process exists, not yet exec'd). Returns its pid. */
    async create(task, options) {
        const stdio = normalizeStdio(task.stdout ?? '', task.stderr ?? '');
        const res = await this.#rpc.unary('tasks', 'Create', {
            container_id: task.containerId,
            rootfs: task.rootfs.map(encodeMount),
            stdin: task.stdin ?? '',
            stdout: stdio.stdout,
            stderr: stdio.stderr,
            terminal: task.terminal ?? false,
            ...(task.options ? { options: { type_url: task.options.typeUrl, value: task.options.value } } : {}),
        }, options);
        return { pid: num(res, 'pid') };
    }
    async start(containerId, options) {
        const res = await this.#rpc.unary('tasks', 'Start', { container_id: containerId, exec_id: '' }, options);
        return { pid: num(res, 'pid') };
    }
    async get(containerId, options) {
        const res = await this.#rpc.unary('tasks', 'Get', { container_id: containerId, exec_id: '' }, options);
        const process = optionalMessage(res['process'], 'process');
        if (!process)
            throw new Error(`tasks.Get ${containerId}: response without process`);
        return decodeProcess(process, containerId);
    }
    /** All tasks of the namespace. `filter` is accepted by the API but ignored by containerd 1.6. */
    async list(filter = '', options) {
        const res = await this.#rpc.unary('tasks', 'List', { filter }, options);
        return messages(res, 'tasks').map((task) => decodeProcess(task));
    }
    /** Sends `signal` to the init process, or with `all` to every process of the container. */
    async kill(containerId, signal, opts = {}, options) {
        await this.#rpc.unary('tasks', 'Kill', { container_id: containerId, exec_id: '', signal: signalNumber(signal), all: opts.all ?? false }, options);
    }
    /**
     * Blocks until the task exits (returns at once if it already has). No deadline by default. If containerd
     * restarts meanwhile this rejects with UNAVAILABLE: the task lives on in its shim — reconnect and wait again.
     */
    async wait(containerId, options = {}) {
        const res = await this.#rpc.unary('tasks', 'Wait', { container_id: containerId, exec_id: '' }, { ...options, timeoutMs: options.timeoutMs ?? null });
        return decodeExit(res);
    }
    /** Removes a stopped task (runc delete, shim exits) and returns its exit. FAILED_PRECONDITION while running. */
    async delete(containerId, options) {
        const res = await this.#rpc.unary('tasks', 'Delete', { container_id: containerId }, options);
        return { pid: num(res, 'pid'), ...decodeExit(res) };
    }
}
