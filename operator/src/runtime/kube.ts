// A small Kubernetes REST client on client-node's KubeConfig: one pooled TLS dispatcher, auth headers per request.
import type { KubeConfig } from '@kubernetes/client-node';
import { credentialsFromKubeConfig, type Credentials } from './credentials.ts';
import { Agent, fetch, type Dispatcher } from 'undici';

export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: KubeStatus | undefined;
  constructor(status: number, message: string, reason: string, body?: KubeStatus) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.status === 409;
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.status === 410;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';

export type QueryValue = string | number | boolean | undefined;
export type Query = Record<string, QueryValue>;

export const ContentType = {
  json: 'application/json',
  jsonPatch: 'application/json-patch+json',
  mergePatch: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchStream<T> {
  events: AsyncIterable<WatchEvent<T>>;
  abort(): void;
}

const defaultTimeoutMs = 30_000;

/** The two calls informers need; KubeClient implements it, unit tests fake it. */
export interface KubeApi {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  watch<T>(path: string, query: Query, signal: AbortSignal): Promise<WatchStream<T>>;
}

export class KubeClient implements KubeApi {
  readonly server: string;
  readonly #credentials: Credentials;
  #dispatcher: Dispatcher | undefined;

  constructor(credentials: Credentials) {
    this.server = credentials.server.replace(/\/+$/, '');
    this.#credentials = credentials;
  }

  static fromKubeConfig(config: KubeConfig): KubeClient {
    return new KubeClient(credentialsFromKubeConfig(config));
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.#send(method, path, options);
    const text = await response.text();
    if (response.status >= 400) throw toApiError(response.status, text);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Opens a watch; the caller iterates events and aborts to stop. Errors are thrown by the iterator. */
  async watch<T>(path: string, query: Query, signal: AbortSignal): Promise<WatchStream<T>> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const response = await this.#send('GET', path, { query: { ...query, watch: true }, signal: controller.signal, timeoutMs: 0 });
    if (response.status !== 200) {
      signal.removeEventListener('abort', onAbort);
      throw toApiError(response.status, await response.text());
    }
    if (!response.body) throw new Error('watch response has no body');
    const body: ReadableStream<Uint8Array> = response.body;
    async function* events(): AsyncGenerator<WatchEvent<T>> {
      try {
        for await (const line of ndjsonLines(body)) yield JSON.parse(line) as WatchEvent<T>;
      } finally {
        signal.removeEventListener('abort', onAbort);
        controller.abort();
      }
    }
    return { events: events(), abort: () => controller.abort() };
  }

  async #send(method: string, path: string, options: RequestOptions): Promise<Awaited<ReturnType<typeof fetch>>> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: ContentType.json, ...(await this.#credentials.headers()) };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? ContentType.json;
    }
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return fetch(url, {
      method,
      headers,
      body,
      dispatcher: this.#dispatcherFor(),
      signal: signals.length ? AbortSignal.any(signals) : null,
    });
  }

  // The TLS material is fixed for a kubeconfig, so one pooled dispatcher serves every request.
  #dispatcherFor(): Dispatcher {
    const c = this.#credentials;
    this.#dispatcher ??= new Agent({
      connect: { ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized, keepAlive: true, keepAliveInitialDelay: 30_000 },
      pipelining: 1,
      connections: 64,
    });
    return this.#dispatcher;
  }

  async close(): Promise<void> {
    await this.#dispatcher?.close();
    this.#dispatcher = undefined;
  }
}

// Splits a streamed body into lines; read errors (reset, abort) reject the iteration rather than escaping as events.
async function* ndjsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield line;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim()) yield buffered.trim();
}

function toApiError(status: number, text: string): KubeApiError {
  let body: KubeStatus | undefined;
  try {
    body = JSON.parse(text) as KubeStatus;
  } catch {
    body = undefined;
  }
  const message = body?.message ?? (text.slice(0, 500) || `HTTP ${status}`);
  return new KubeApiError(status, message, body?.reason ?? '', body);
}
