import assert from 'node:assert/strict';
import { errorBody, MirrorError, quote } from '../../agents/mirror/errors.ts';

describe('mirror errors', () => {
  it('renders the OCI error body', () => {
    assert.deepEqual(JSON.parse(errorBody('MANIFEST_UNKNOWN', 'not here', { attempts: 1 })), {
      errors: [{ code: 'MANIFEST_UNKNOWN', message: 'not here', detail: { attempts: 1 } }],
    });
    assert.deepEqual(JSON.parse(errorBody('BLOB_UNKNOWN', 'x')), { errors: [{ code: 'BLOB_UNKNOWN', message: 'x', detail: null }] });
  });

  it('carries status, code and extra headers', () => {
    const err = new MirrorError(405, 'UNSUPPORTED', 'read-only', { headers: { allow: 'GET, HEAD' } });
    assert.deepEqual([err.status, err.code, err.headers['allow']], [405, 'UNSUPPORTED', 'GET, HEAD']);
  });

  it('quotes and cuts client input', () => {
    assert.equal(quote('a"b'), '"a\\"b"');
    assert.equal(quote('x'.repeat(200), 10), JSON.stringify(`${'x'.repeat(10)}…`));
  });
});
