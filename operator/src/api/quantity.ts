// Kubernetes resource quantities ("100m", "1.5", "64Mi", "1G", "2e3"): parsed to base units, printed canonically.
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const pattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** The quantity in base units (cores, bytes); throws on anything Kubernetes would not accept. */
export function parseQuantity(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`invalid quantity ${value}`);
    return value;
  }
  const match = pattern.exec(value.trim());
  if (!match) throw new Error(`invalid quantity ${JSON.stringify(value)}`);
  const [, number = '', exponent, suffix = ''] = match;
  const base = Number(number);
  if (exponent) return base * 10 ** Number(exponent.slice(1));
  return base * (binary[suffix] ?? decimal[suffix] ?? 1);
}

/** CPU in millicores, rounded up as the API server does. */
export function milliCpu(value: string | number | undefined, fallback = 0): number {
  return value === undefined ? fallback : Math.ceil(parseQuantity(value) * 1000 - 1e-9);
}

export function bytes(value: string | number | undefined, fallback = 0): number {
  return value === undefined ? fallback : Math.ceil(parseQuantity(value) - 1e-9);
}

export function formatMilliCpu(milli: number): string {
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes in the largest binary unit that keeps an integer, as kubectl prints them. */
export function formatBytes(value: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = binary[unit] ?? 1;
    if (value >= size && value % size === 0) return `${value / size}${unit}`;
  }
  return String(value);
}
