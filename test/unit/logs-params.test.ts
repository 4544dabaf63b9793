import assert from 'node:assert/strict';
import { HttpError } from '../../agents/logs/http-error.ts';
import { parseLogsPath, parseLogsQuery } from '../../agents/logs/params.ts';

const badRequest = (fn: () => unknown, message: RegExp): void => {
  assert.throws(fn, (err: unknown) => err instanceof HttpError && err.status === 400 && message.test(err.message));
};

describe('logs endpoint parameters', () => {
  it('reads namespace and name from the path, and ignores paths that are not logs paths', () => {
    assert.deepEqual(parseLogsPath('/v1/logs/team-a/hello.v2'), { namespace: 'team-a', name: 'hello.v2' });
    assert.equal(parseLogsPath('/v1/logs/team-a'), undefined);
    assert.equal(parseLogsPath('/v1/logs/a/b/c'), undefined);
    assert.equal(parseLogsPath('/metrics'), undefined);
  });

  it('rejects names that cannot be a namespace or a Workload', () => {
    badRequest(() => parseLogsPath('/v1/logs/Team/hello'), /invalid namespace "Team"/);
    badRequest(() => parseLogsPath(`/v1/logs/${'a'.repeat(64)}/hello`), /invalid namespace/);
    badRequest(() => parseLogsPath('/v1/logs/ns/..'), /invalid workload name ".."/);
    badRequest(() => parseLogsPath('/v1/logs/ns/%2e%2e%2fetc'), /invalid workload name "..\/etc"/);
    badRequest(() => parseLogsPath('/v1/logs/ns/%E0%A4%A'), /malformed path segment/);
    badRequest(() => parseLogsPath(`/v1/logs/ns/${'a'.repeat(254)}`), /invalid workload name/);
  });

  it('defaults to the whole current log, not followed', () => {
    assert.deepEqual(parseLogsQuery(new URLSearchParams('')), { follow: false, previous: false });
  });

  it('parses every parameter', () => {
    assert.deepEqual(parseLogsQuery(new URLSearchParams('follow=true&previous=false&tailLines=0&limitBytes=1')), { follow: true, previous: false, tailLines: 0, limitBytes: 1 });
    assert.deepEqual(parseLogsQuery(new URLSearchParams('previous=true&tailLines=250')), { follow: false, previous: true, tailLines: 250 });
  });

  it('answers 400 with a clear message on bad input', () => {
    badRequest(() => parseLogsQuery(new URLSearchParams('tailLines=abc')), /tailLines must be an integer ≥ 0, got "abc"/);
    badRequest(() => parseLogsQuery(new URLSearchParams('tailLines=-1')), /tailLines/);
    badRequest(() => parseLogsQuery(new URLSearchParams('tailLines=1e3')), /tailLines/);
    badRequest(() => parseLogsQuery(new URLSearchParams('tailLines=99999999999999999999')), /tailLines/);
    badRequest(() => parseLogsQuery(new URLSearchParams('limitBytes=0')), /limitBytes must be an integer ≥ 1/);
    badRequest(() => parseLogsQuery(new URLSearchParams('follow=yes')), /follow must be true or false, got "yes"/);
    badRequest(() => parseLogsQuery(new URLSearchParams('previous=')), /previous must be true or false/);
    badRequest(() => parseLogsQuery(new URLSearchParams('tail=5')), /unknown parameter "tail"/);
    badRequest(() => parseLogsQuery(new URLSearchParams('tailLines=1&tailLines=2')), /tailLines given more than once/);
  });
});
