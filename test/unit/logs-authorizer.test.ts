import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { LogsAuthorizer } from '../../agents/logs/authorizer.ts';
import { HttpError } from '../../agents/logs/http-error.ts';
import type { RequestOptions } from '../../operator/src/runtime/kube.ts';

interface Call {
  path: string;
  body: { spec: Record<string, unknown> };
}

/** A fake API server: tokens map to users, and `allowed` says which user may read which workload's logs. */
function fakeApi(users: Record<string, string>, allowed: Set<string>) {
  const calls: Call[] = [];
  let failNext = false;
  const api = {
    async request<T>(_method: string, path: string, options?: RequestOptions): Promise<T> {
      const body = options?.body as Call['body'];
      calls.push({ path, body });
      if (failNext) {
        failNext = false;
        throw new Error('apiserver unavailable');
      }
      if (path.endsWith('/tokenreviews')) {
        const user = users[body.spec['token'] as string];
        return (user ? { status: { authenticated: true, user: { username: user, groups: ['system:authenticated'] } } } : { status: { authenticated: false, error: 'invalid token' } }) as T;
      }
      const attrs = body.spec['resourceAttributes'] as { namespace: string; name: string };
      return { status: { allowed: allowed.has(`${body.spec['user']}:${attrs.namespace}/${attrs.name}`), reason: '' } } as T;
    },
  };
  return { api, calls, failOnce: () => (failNext = true) };
}

const status = async (promise: Promise<unknown>): Promise<number | string> =>
  promise.then(
    () => 200,
    (err: unknown) => (err instanceof HttpError ? err.status : String(err)),
  );

describe('logs authorizer', () => {
  const target = { namespace: 'team', name: 'web' };

  it('asks TokenReview then SubjectAccessReview for get workloads/log on the exact workload', async () => {
    const { api, calls } = fakeApi({ t1: 'alice' }, new Set(['alice:team/web']));
    const authorizer = new LogsAuthorizer({ client: api });
    assert.equal(await authorizer.authorize('t1', target), 'alice');
    assert.deepEqual(calls.map((c) => c.path), ['/apis/authentication.k8s.io/v1/tokenreviews', '/apis/authorization.k8s.io/v1/subjectaccessreviews']);
    assert.deepEqual(calls[1]!.body.spec, {
      user: 'alice',
      groups: ['system:authenticated'],
      resourceAttributes: { verb: 'get', group: 'shoal.dev', resource: 'workloads', subresource: 'log', namespace: 'team', name: 'web' },
    });
  });

  it('answers 401 without a token or with a bad one, and 403 when denied, naming the user and permission', async () => {
    const { api } = fakeApi({ t1: 'alice' }, new Set());
    const authorizer = new LogsAuthorizer({ client: api });
    await assert.rejects(authorizer.authorize(undefined, target), (err: unknown) => err instanceof HttpError && err.status === 401);
    await assert.rejects(authorizer.authorize('nope', target), (err: unknown) => err instanceof HttpError && err.status === 401);
    await assert.rejects(authorizer.authorize('t1', target), (err: unknown) => err instanceof HttpError && err.status === 403 && /User "alice" cannot get resource "workloads\/log" in API group "shoal.dev" in the namespace "team"/.test(err.message));
  });

  it('reuses a decision for its TTL, per token and workload, then asks again', async () => {
    const { api, calls } = fakeApi({ t1: 'alice', t2: 'bob' }, new Set(['alice:team/web']));
    let now = 1_000;
    const registry = new Registry();
    const reviews = new Counter({ name: 'reviews', help: 'x', labelNames: ['result'], registers: [registry] });
    const authorizer = new LogsAuthorizer({ client: api, ttlMs: 10_000, now: () => now, reviews });
    await authorizer.authorize('t1', target);
    await authorizer.authorize('t1', target);
    assert.equal(calls.length, 2, 'the second request was answered from the cache');
    assert.equal(await status(authorizer.authorize('t2', target)), 403);
    assert.equal(await status(authorizer.authorize('t2', target)), 403, 'denials are cached too');
    assert.equal(calls.length, 4);
    await authorizer.authorize('t1', { namespace: 'team', name: 'web' });
    assert.equal(await status(authorizer.authorize('t1', { namespace: 'team', name: 'db' })), 403, 'another workload is another decision');
    assert.equal(calls.length, 6);
    now += 10_001;
    await authorizer.authorize('t1', target);
    assert.equal(calls.length, 8, 'an expired decision is reviewed again');
    const counted = Object.fromEntries((await reviews.get()).values.map((v) => [v.labels['result'], v.value]));
    assert.deepEqual(counted, { allowed: 2, cached: 3, forbidden: 2 });
  });

  it('shares one review between concurrent requests', async () => {
    const { api, calls } = fakeApi({ t1: 'alice' }, new Set(['alice:team/web']));
    const authorizer = new LogsAuthorizer({ client: api });
    await Promise.all([authorizer.authorize('t1', target), authorizer.authorize('t1', target), authorizer.authorize('t1', target)]);
    assert.equal(calls.length, 2);
  });

  it('does not cache API failures', async () => {
    const { api, calls, failOnce } = fakeApi({ t1: 'alice' }, new Set(['alice:team/web']));
    const authorizer = new LogsAuthorizer({ client: api });
    failOnce();
    assert.equal(await status(authorizer.authorize('t1', target)), 'Error: apiserver unavailable');
    assert.equal(await authorizer.authorize('t1', target), 'alice');
    assert.equal(calls.length, 3);
  });

  it('stays bounded: expired entries go first, then the oldest', async () => {
    const { api, calls } = fakeApi({ t1: 'alice' }, new Set());
    let now = 0;
    const authorizer = new LogsAuthorizer({ client: api, maxEntries: 3, ttlMs: 1_000, now: () => now });
    for (const name of ['a', 'b', 'c', 'd', 'e']) await status(authorizer.authorize('t1', { namespace: 'team', name }));
    assert.equal(authorizer.size, 3);
    const before = calls.length;
    await status(authorizer.authorize('t1', { namespace: 'team', name: 'e' }));
    assert.equal(calls.length, before, 'the newest entry is still cached');
    await status(authorizer.authorize('t1', { namespace: 'team', name: 'a' }));
    assert.equal(calls.length, before + 2, 'the oldest entry was evicted');
    now += 2_000;
    await status(authorizer.authorize('t1', { namespace: 'team', name: 'f' }));
    assert.equal(authorizer.size, 1, 'expired entries were dropped to make room');
  });
});
