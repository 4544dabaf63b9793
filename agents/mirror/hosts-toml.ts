// containerd's per-registry `certs.d/<registry>/hosts.toml`: puts our mirror first without disturbing what
// the file already says. Our `[host."…"]` table goes in as one marked block right before the file's first
// table (top-level keys such as `server` must stay above every table), every other byte stays where it was,
// and restore() takes the block out again — or brings back the original from the backup taken at install.
//
// containerd (1.5+) re-reads the file on every pull, tries `[host.*]` tables in file order, then `server`
// (or `https://<registry>` when absent); for a host that is not the registry itself it adds `?ns=<registry>`.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../operator/src/runtime/log.ts';
import { isRegistryHost } from './keys.ts';

/** Files are handled as latin1 strings: one char per byte, so any bytes (even invalid UTF-8) round-trip exactly. */
const encoding = 'latin1';

export const hostsFileName = 'hosts.toml';
/** The file's bytes as they were before our first install. */
export const backupSuffix = '.shoal-backup';
/** Instead of a backup when there was no file: `created-dir` or `existing-dir`, for restore to undo exactly. */
export const absentSuffix = '.shoal-absent';

const beginMarker = '# >>> shoal mirror: written by the Shoal agent, removed on uninstall >>>\n';
/** Same block, when the file's last line had no newline and we had to end it. */
const beginMarkerAfterNewline = '# >>> shoal mirror: written by the Shoal agent, removed on uninstall (a newline was added above) >>>\n';
const endMarker = '# <<< shoal mirror <<<\n';

export class HostsTomlError extends Error {
  override readonly name = 'HostsTomlError';
}

export interface MirrorHostsOptions {
  /** Mirror base URLs, tried in this order before the file's own hosts, e.g. `http://127.0.0.1:5050`. */
  mirrors: readonly string[];
  /** Let the mirrors resolve tags (capability `resolve`); default true. */
  resolveTags?: boolean;
}

/** Which registries' files a writer manages: `_default` is containerd's catch-all directory. */
export function isRegistryDirectory(registry: string): boolean {
  return registry === '_default' || isRegistryHost(registry);
}

function checkMirrorUrl(url: string): string {
  // Written into TOML between double quotes: only characters that need no escaping, no path, no query.
  if (!/^https?:\/\/[A-Za-z0-9.\-:[\]]+$/.test(url) || !URL.canParse(url)) throw new HostsTomlError(`invalid mirror URL ${JSON.stringify(url)}: expected http(s)://host:port`);
  return url;
}

/** Our block for `mirrors`: one host table each, in order. */
export function mirrorBlock(options: MirrorHostsOptions): string {
  if (options.mirrors.length === 0) throw new HostsTomlError('at least one mirror URL is needed');
  const capabilities = options.resolveTags === false ? '["pull"]' : '["pull", "resolve"]';
  return options.mirrors.map((url) => `[host."${checkMirrorUrl(url)}"]\n  capabilities = ${capabilities}\n`).join('');
}

interface Line {
  start: number;
  /** The line starts outside any multi-line string or array, so it may hold a key, a table header or a comment. */
  clean: boolean;
  comment: boolean;
}

/**
 * Offset at which our block goes: the start of the first table header, moved up over the comment lines
 * directly above it (they describe that table); the end of the text when there is no table. A small TOML
 * scanner tracks strings and arrays so a `[` inside a value is not taken for a header.
 */
export function insertionOffset(text: string): number {
  const lines: Line[] = [];
  let multiline: '"""' | "'''" | undefined;
  let depth = 0;
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    const end = newline < 0 ? text.length : newline;
    const line = text.slice(pos, end);
    const clean = multiline === undefined && depth === 0;
    const trimmed = line.trimStart();
    if (clean && trimmed.startsWith('[')) {
      let at = pos;
      for (let i = lines.length - 1; i >= 0; i--) {
        const previous = lines[i];
        if (!previous?.clean || !previous.comment) break;
        at = previous.start;
      }
      return at;
    }
    lines.push({ start: pos, clean, comment: clean && trimmed.startsWith('#') });
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (multiline !== undefined) {
        if (multiline === '"""' && c === '\\') i++;
        else if (line.startsWith(multiline, i)) {
          multiline = undefined;
          i += 2;
        }
        continue;
      }
      if (c === '#') break;
      if (c === '"' || c === "'") {
        const triple = c.repeat(3) as '"""' | "'''";
        if (line.startsWith(triple, i)) {
          multiline = triple;
          i += 2;
          continue;
        }
        for (i++; i < line.length && line[i] !== c; i++) if (c === '"' && line[i] === '\\') i++;
        continue;
      }
      if (c === '[' || c === '{') depth++;
      else if ((c === ']' || c === '}') && depth > 0) depth--;
    }
    pos = end + 1;
  }
  return text.length;
}

/** `base` with `block` inserted at insertionOffset, wrapped in markers so withoutMirror can take it out exactly. */
export function withMirror(base: string, block: string): string {
  const at = insertionOffset(base);
  const needsNewline = at === base.length && base.length > 0 && !base.endsWith('\n');
  const wrapped = `${needsNewline ? `\n${beginMarkerAfterNewline}` : beginMarker}${block}${endMarker}`;
  return base.slice(0, at) + wrapped + base.slice(at);
}

/** `text` without our block (exactly the bytes withMirror started from), or undefined if it holds no block. */
export function withoutMirror(text: string): string | undefined {
  const plain = text.indexOf(beginMarker);
  const afterNewline = text.indexOf(beginMarkerAfterNewline);
  const addedNewline = afterNewline >= 0 && (plain < 0 || afterNewline < plain);
  const begin = addedNewline ? afterNewline : plain;
  if (begin < 0 || (begin > 0 && text[begin - 1] !== '\n')) return undefined;
  const end = text.indexOf(endMarker, begin);
  if (end < 0) return undefined;
  const start = addedNewline ? begin - 1 : begin;
  return text.slice(0, start) + text.slice(end + endMarker.length);
}

/** Whether `text` already has a host table for `url` (a second one would make the whole file invalid TOML). */
function definesHost(text: string, url: string): boolean {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^[ \\t]*\\[[ \\t]*host[ \\t]*\\.[ \\t]*(["'])${escaped}\\1[ \\t]*\\]`, 'm').test(text);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, encoding);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write to a temp file in the same directory, fsync, rename: containerd never reads a half-written file. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(temp, 'wx', 0o644);
    try {
      await file.writeFile(content, encoding);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export type InstallResult = 'created' | 'updated' | 'unchanged';
export type RestoreResult = 'restored' | 'removed' | 'unchanged';

export class HostsTomlWriter {
  readonly #certsDir: string;
  readonly #logger: Logger | undefined;
  /** Per-registry chains: two calls for one file never interleave within this process. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: { certsDir: string; logger?: Logger }) {
    this.#certsDir = options.certsDir;
    this.#logger = options.logger;
  }

  /** `<certsDir>/<registry>/hosts.toml`. */
  path(registry: string): string {
    return join(this.#directory(registry), hostsFileName);
  }

  /** Puts `mirrors` first in the registry's hosts.toml, backing up the original on the first install. Idempotent. */
  async install(registry: string, options: MirrorHostsOptions): Promise<InstallResult> {
    const block = mirrorBlock(options);
    return this.#locked(registry, async () => {
      const dir = this.#directory(registry);
      const path = join(dir, hostsFileName);
      const created = (await mkdir(dir, { recursive: true })) !== undefined;
      const current = await readOptional(path);
      const stripped = current === undefined ? undefined : withoutMirror(current);
      const base = stripped ?? current;
      for (const url of options.mirrors) {
        if (base !== undefined && definesHost(base, url)) throw new HostsTomlError(`${path} already has a [host."${url}"] table; not adding a second one`);
      }
      // No block in the file: a first install, or someone rewrote the file since; what is there now is the original.
      if (stripped === undefined || !(await this.#hasState(path))) await this.#recordOriginal(path, base, created);
      const desired = withMirror(base ?? '', block);
      if (desired === current) return 'unchanged';
      await writeAtomically(path, desired);
      this.#logger?.info('hosts.toml: mirror installed', { registry, path, mirrors: options.mirrors, before: current === undefined ? 'absent' : 'present' });
      return current === undefined ? 'created' : 'updated';
    });
  }

  /**
   * Takes our block out again, leaving the original bytes (plus any edits made outside the block since), or
   * removes the file — and the directory, if we created it — when there was none. Idempotent.
   */
  restore(registry: string): Promise<RestoreResult> {
    return this.#locked(registry, async () => {
      const dir = this.#directory(registry);
      const path = join(dir, hostsFileName);
      const current = await readOptional(path);
      const backup = await readOptional(path + backupSuffix);
      const absent = await readOptional(path + absentSuffix);
      const stripped = current === undefined ? undefined : withoutMirror(current);
      let result: RestoreResult = 'unchanged';
      if (stripped !== undefined) {
        if (absent !== undefined && stripped === '') {
          await rm(path, { force: true });
          result = 'removed';
        } else {
          await writeAtomically(path, stripped);
          result = 'restored';
        }
        if (backup !== undefined && stripped !== backup) this.#logger?.info('hosts.toml: kept edits made after the mirror was installed', { registry, path });
      } else if (current === undefined && backup !== undefined) {
        // Our file was deleted while installed: the original still belongs there.
        await writeAtomically(path, backup);
        result = 'restored';
      }
      await rm(path + backupSuffix, { force: true });
      await rm(path + absentSuffix, { force: true });
      if (absent?.trim() === 'created-dir' && result === 'removed') {
        await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'ENOENT') throw err;
        });
      }
      if (result !== 'unchanged') this.#logger?.info('hosts.toml: mirror removed', { registry, path, result });
      return result;
    });
  }

  /** Registries whose file carries our block or our backup state: what an uninstall must restore. */
  async managed(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(this.#certsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: string[] = [];
    for (const registry of entries.filter(isRegistryDirectory).sort()) {
      const path = join(this.#certsDir, registry, hostsFileName);
      const current = await readOptional(path).catch(() => undefined);
      if ((current !== undefined && withoutMirror(current) !== undefined) || (await this.#hasState(path))) out.push(registry);
    }
    return out;
  }

  #directory(registry: string): string {
    if (!isRegistryDirectory(registry)) throw new HostsTomlError(`invalid registry ${JSON.stringify(registry)}: expected host[:port] or _default`);
    return join(this.#certsDir, registry);
  }

  async #hasState(path: string): Promise<boolean> {
    return (await readOptional(path + backupSuffix)) !== undefined || (await readOptional(path + absentSuffix)) !== undefined;
  }

  /** Records `original` (undefined: there was no file) before the first write, replacing older state. */
  async #recordOriginal(path: string, original: string | undefined, createdDir: boolean): Promise<void> {
    if (original === undefined) {
      // A directory we created earlier still counts as ours even though it exists by now.
      const earlier = await readOptional(path + absentSuffix);
      const ours = createdDir || earlier?.trim() === 'created-dir';
      await writeAtomically(path + absentSuffix, ours ? 'created-dir\n' : 'existing-dir\n');
      await rm(path + backupSuffix, { force: true });
      return;
    }
    await writeAtomically(path + backupSuffix, original);
    await rm(path + absentSuffix, { force: true });
  }

  #locked<T>(registry: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(registry) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.#locks.set(registry, settled);
    void settled.then(() => {
      if (this.#locks.get(registry) === settled) this.#locks.delete(registry);
    });
    return next;
  }
}
