import assert from 'node:assert/strict';
import { bearerChallenge, parseChallenges } from '../../agents/mirror/upstream/challenge.ts';
import { parseTokenBody } from '../../agents/mirror/upstream/token.ts';

describe('mirror upstream WWW-Authenticate parsing', () => {
  it('parses Docker Hub’s Bearer challenge', () => {
    const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';
    assert.deepEqual(parseChallenges(header), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('handles several challenges, token values, spaces and escaped quotes', () => {
    const header = 'Basic realm="Registry \\"x\\"", Bearer  realm = "https://ghcr.io/token" , service=ghcr.io,scope="repository:a/b:pull"';
    const challenges = parseChallenges(header);
    assert.equal(challenges.length, 2);
    assert.deepEqual(challenges[0], { scheme: 'basic', params: { realm: 'Registry "x"' } });
    assert.deepEqual(challenges[1], { scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull' } });
    assert.equal(bearerChallenge(header)?.params['service'], 'ghcr.io');
  });

  it('finds the Bearer challenge among several headers and after a token68 credential', () => {
    assert.equal(bearerChallenge(['Basic realm="r"', 'Bearer realm="https://t/x"'])?.params['realm'], 'https://t/x');
    assert.equal(bearerChallenge('Negotiate abc==, Bearer realm="https://t/y"')?.params['realm'], 'https://t/y');
  });

  it('keeps commas inside quoted scopes (several scopes in one challenge)', () => {
    const challenge = bearerChallenge('Bearer realm="https://t",scope="repository:a:pull,push"');
    assert.equal(challenge?.params['scope'], 'repository:a:pull,push');
  });

  it('answers no Bearer challenge for Basic-only, realm-less or empty headers', () => {
    assert.equal(bearerChallenge('Basic realm="registry"'), undefined);
    assert.equal(bearerChallenge('Bearer service="x"'), undefined);
    assert.equal(bearerChallenge(undefined), undefined);
    assert.equal(bearerChallenge(''), undefined);
    assert.deepEqual(parseChallenges(' , ,'), []);
  });

  it('reads token responses in both forms with a default lifetime', () => {
    assert.deepEqual(parseTokenBody('{"token":"abc","expires_in":300}'), { token: 'abc', lifetimeS: 300 });
    assert.deepEqual(parseTokenBody('{"access_token":"def"}'), { token: 'def', lifetimeS: 60 });
    assert.deepEqual(parseTokenBody('{"token":"","access_token":"ghi","expires_in":-1}'), { token: 'ghi', lifetimeS: 60 });
    assert.equal(parseTokenBody('{"token":42}'), undefined);
    assert.equal(parseTokenBody('not json'), undefined);
    assert.equal(parseTokenBody('null'), undefined);
  });
});
