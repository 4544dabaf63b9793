import assert from 'node:assert/strict';
import { ResyncSnapshot } from '../../agents/runtime/workloads.ts';
import type { TaskInfo } from '../../agents/runtime/containerd/tasks.ts';

const container = (key: string, id: string) => ({ key, id, uid: 'u', attempt: 1, restart: 0, graceSeconds: 30 });
const task = (containerId: string, status: TaskInfo['status']): TaskInfo => ({ containerId, execId: '', pid: 1, status, stdin: '', stdout: '', stderr: '', terminal: false, exitStatus: 0 });

describe('agent resync snapshot', () => {
  it("serves each key's containers and tasks from one listing, once", () => {
    const snapshot = new ResyncSnapshot();
    snapshot.set(performance.now(), snapshot.exits, [container('ns/a', 'c1'), container('orphan/x', 'c9')], [task('c1', 'running')], ['ns/a', 'ns/b']);
    const a = snapshot.take('ns/a');
    assert.deepEqual(a?.found.map((c) => c.id), ['c1']);
    assert.equal(a?.task('c1')?.status, 'running');
    assert.equal(snapshot.take('ns/a'), undefined, 'a view is used by one reconcile only');
    assert.deepEqual(snapshot.take('ns/b')?.found, [], 'a bound Workload without containers is known to have none');
    assert.deepEqual(snapshot.take('orphan/x')?.found.map((c) => c.id), ['c9']);
    assert.equal(snapshot.take('ns/unknown'), undefined, 'a key the listing did not cover is listed afresh');
  });

  it('is not used for a key reconciled after the lists were asked for, nor after any task exit', async () => {
    const snapshot = new ResyncSnapshot();
    const askedAt = performance.now();
    await new Promise((r) => setTimeout(r, 2));
    snapshot.reconciled('ns/a'); // ended while the lists were in flight: it may have created or removed containers
    snapshot.set(askedAt, snapshot.exits, [container('ns/a', 'c1'), container('ns/b', 'c2')], [task('c1', 'running'), task('c2', 'running')], ['ns/a', 'ns/b']);
    assert.equal(snapshot.take('ns/a'), undefined);
    assert.ok(snapshot.take('ns/b'));

    const exitsAtAsk = snapshot.exits;
    snapshot.exited(); // an exit arrived while the lists were in flight
    snapshot.set(performance.now(), exitsAtAsk, [container('ns/c', 'c3')], [task('c3', 'running')], ['ns/c']);
    assert.equal(snapshot.take('ns/c'), undefined, 'a task may have stopped after it was listed as running');

    snapshot.set(performance.now(), snapshot.exits, [container('ns/d', 'c4')], [task('c4', 'running')], ['ns/d']);
    snapshot.exited();
    assert.equal(snapshot.take('ns/d'), undefined);
  });
});
