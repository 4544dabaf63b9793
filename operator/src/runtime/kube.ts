// A small Kubernetes REST client on client-node's KubeConfig: node:https with one keep-alive connection pool,
// auth headers per request. Not the npm undici (a second copy of Node's own, ~28 MiB of RSS in the agent).
import type { KubeConfig } from '@kubernetes/client-node';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { credentialsFromKubeConfig, type Credentials } from './credentials.ts';

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

/** Connections kept per API server: enough for every watch plus the writes a controller keeps in flight. */
const maxConnections = 128;

export class KubeClient implements KubeApi {
  readonly server: string;
  readonly #credentials: Credentials;
  #agent: http.Agent | undefined;

  constructor(credentials: Credentials) {
    this.server = credentials.server.replace(/\/+$/, '');
    this.#credentials = credentials;
  }

  static fromKubeConfig(config: KubeConfig): KubeClient {
    return new KubeClient(credentialsFromKubeConfig(config));
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    // One signal covers the whole exchange, the body included, as fetch's did.
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const response = await this.#send(method, path, options, signal);
    const text = await readText(response, signal);
    const status = response.statusCode ?? 0;
    if (status >= 400) throw toApiError(status, text);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Opens a watch; the caller iterates events and aborts to stop. Errors are thrown by the iterator. */
  async watch<T>(path: string, query: Query, signal: AbortSignal): Promise<WatchStream<T>> {
    const controller = new AbortController();
    const stop = AbortSignal.any([signal, controller.signal]);
    const response = await this.#send('GET', path, { query: { ...query, watch: true } }, stop);
    if (response.statusCode !== 200) throw toApiError(response.statusCode ?? 0, await readText(response, stop));
    async function* events(): AsyncGenerator<WatchEvent<T>> {
      try {
        for await (const line of ndjsonLines(response)) yield JSON.parse(line) as WatchEvent<T>;
      } finally {
        controller.abort();
      }
    }
    return { events: events(), abort: () => controller.abort() };
  }

  async #send(method: string, path: string, options: RequestOptions, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: ContentType.json, ...(await this.#credentials.headers()) };
    let body: Buffer | undefined;
    if (options.body !== undefined) {
      body = Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body));
      headers['content-type'] = options.contentType ?? ContentType.json;
      headers['content-length'] = String(body.length);
    }
    signal?.throwIfAborted();
    const c = this.#credentials;
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.#agentFor(transport), ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized ?? true }, (res) => {
        // An abort after the headers ends the body too: reads reject with the signal's reason.
        const onAbort = (): void => void res.destroy(abortReason(signal));
        signal?.addEventListener('abort', onAbort, { once: true });
        // Readers see errors through iteration; a body aborted before anyone reads it must not crash the process.
        res.on('error', () => undefined);
        res.once('close', () => signal?.removeEventListener('abort', onAbort));
        resolve(res);
      });
      const onAbort = (): void => void req.destroy(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal?.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(body);
    });
  }

  // The TLS material is fixed for a kubeconfig, so one keep-alive pool serves every request.
  #agentFor(transport: typeof http | typeof https): http.Agent {
    this.#agent ??= new transport.Agent({ keepAlive: true, keepAliveMsecs: 30_000, maxSockets: maxConnections, scheduling: 'lifo' });
    return this.#agent;
  }

  async close(): Promise<void> {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

async function readText(response: IncomingMessage, signal: AbortSignal | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  // A destroyed response may end its iteration quietly; an abort must still be an error.
  signal?.throwIfAborted();
  if (!response.complete) throw new Error(`${response.statusCode ?? 0} response ended before its body was complete`);
  return Buffer.concat(chunks).toString('utf8');
}

// Splits a streamed body into lines; read errors (reset, abort) reject the iteration rather than escaping as events.
async function* ndjsonLines(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
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
