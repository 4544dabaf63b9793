// The `Range` header of a blob GET (RFC 9110 §14): one `bytes=` range is honoured (206); several ranges, or
// another unit, are ignored and the whole blob is sent (200), as registries do; a malformed or unsatisfiable
// bytes range is refused (416, as Go's http.ServeContent answers), since a peer sending it has a bug.

export type RangeRequest =
  | { kind: 'full' }
  /** Inclusive byte positions, `end` < size. */
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable'; reason: string };

const unsatisfiable = (reason: string): RangeRequest => ({ kind: 'unsatisfiable', reason });

/** Parses `header` against a blob of `size` bytes. */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined || header.trim() === '') return { kind: 'full' };
  const match = /^\s*([A-Za-z]+)\s*=(.*)$/s.exec(header);
  if (!match) return unsatisfiable('malformed Range header');
  const [, unit = '', set = ''] = match;
  if (unit.toLowerCase() !== 'bytes') return { kind: 'full' };
  const specs = set.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length > 1) return { kind: 'full' };
  const spec = specs[0] ?? '';
  const suffix = /^-([0-9]+)$/.exec(spec);
  if (suffix) {
    const length = Number(suffix[1]);
    if (length === 0 || size === 0) return unsatisfiable(`suffix range ${spec} of a ${size}-byte blob`);
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const bounded = /^([0-9]+)-([0-9]*)$/.exec(spec);
  if (!bounded) return unsatisfiable(`malformed range ${JSON.stringify(spec.slice(0, 40))}`);
  // Digit strings past 2^53 are still ordered correctly as Numbers; only clamped values are ever used.
  const start = Number(bounded[1]);
  const last = bounded[2] === '' ? Infinity : Number(bounded[2]);
  if (last < start) return unsatisfiable(`range ${spec} ends before it starts`);
  if (start >= size) return unsatisfiable(`range ${spec} starts at or past the end of a ${size}-byte blob`);
  return { kind: 'partial', start, end: Math.min(last, size - 1) };
}

/** `bytes 0-99/1234` for a 206. */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/** For a 416: the unsatisfied-range form, which tells the client the blob's real size. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
