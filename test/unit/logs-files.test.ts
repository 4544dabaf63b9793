import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { incarnationEnded, incarnationLogs, pickLog } from '../../agents/logs/log-files.ts';
import { advertisedHost } from '../../agents/node/host.ts';
import { logDir } from '../../agents/runtime/naming.ts';
import type { Workload } from '../../operator/src/api/generated/types.ts';

describe('logs: which file, and when it ends', () => {
  let stateDir: string;
  const ref = { namespace: 'team', name: 'web', uid: 'u1' };
  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'shoal-logfiles-'));
    const dir = logDir(stateDir, ref);
    await mkdir(dir, { recursive: true });
    // Numeric, not lexical, order: a2-r10 is newer than a2-r9, and attempt 2 is newer than any restart of 1.
    for (const name of ['a1-r0.log', 'a1-r12.log', 'a2-r9.log', 'a2-r10.log', 'a2-r2.log', 'notes.txt']) await writeFile(join(dir, name), name);
  });
  after(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('orders incarnations by attempt then restart; current is the last, previous the one before', async () => {
    const logs = await incarnationLogs(stateDir, ref);
    assert.deepEqual(logs.map((l) => `a${l.attempt}-r${l.restart}`), ['a1-r0', 'a1-r12', 'a2-r2', 'a2-r9', 'a2-r10']);
    assert.equal(pickLog(logs, false)?.path, join(logDir(stateDir, ref), 'a2-r10.log'));
    assert.equal(pickLog(logs, true)?.path, join(logDir(stateDir, ref), 'a2-r9.log'));
    assert.equal(pickLog(logs.slice(0, 1), true), undefined);
    assert.deepEqual(await incarnationLogs(stateDir, { ...ref, uid: 'never-ran' }), []);
  });

  it('ends an incarnation once the Workload moved past it', () => {
    const log = { attempt: 2, restart: 3, path: '' };
    const workload = (status: Workload['status'], uid = 'u1'): Workload => ({ metadata: { uid }, spec: { image: 'x' }, status });
    assert.equal(incarnationEnded(workload({ phase: 'Running', attempt: 2, restartCount: 3 }), 'u1', log), false, 'still running');
    assert.equal(incarnationEnded(workload({ phase: 'Scheduled', attempt: 2, restartCount: 2 }), 'u1', log), false, 'started, status not yet written');
    assert.equal(incarnationEnded(workload({ phase: 'Running', reason: 'CrashLoopBackOff', attempt: 2, restartCount: 4 }), 'u1', log), true, 'restarted since');
    assert.equal(incarnationEnded(workload({ phase: 'Succeeded', attempt: 2, restartCount: 3 }), 'u1', log), true, 'finished');
    assert.equal(incarnationEnded(workload({ phase: 'Running', attempt: 3, restartCount: 0 }), 'u1', log), true, 'rescheduled');
    assert.equal(incarnationEnded(workload({ phase: 'Running', attempt: 2, restartCount: 3 }, 'u2'), 'u1', log), true, 're-created');
    assert.equal(incarnationEnded(undefined, 'u1', log), true, 'deleted or bound elsewhere');
  });

  it('advertises the bound address, or the first InternalIP when bound to every interface', () => {
    const addresses = [{ type: 'InternalIP' as const, address: '10.0.0.5' }, { type: 'Hostname' as const, address: 'n1' }];
    assert.equal(advertisedHost('127.0.0.1', addresses), '127.0.0.1');
    assert.equal(advertisedHost('0.0.0.0', addresses), '10.0.0.5');
    assert.equal(advertisedHost('::', addresses), '10.0.0.5');
  });
});
