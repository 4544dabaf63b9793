// Which log file a request reads: a Workload's incarnations each have their own file (naming.ts `logFile`); the
// current one is the highest attempt, then restart, and `previous` is the one before it.
import { readdir } from 'node:fs/promises';
import { isTerminal } from "../../operator/src/scheduler/resources.js";
import { logDir, logFile } from "../runtime/naming.js";
const fileName = /^a(\d+)-r(\d+)\.log$/;
/** The Workload's incarnation logs on this node, oldest first. */
export async function incarnationLogs(stateDir, workload) {
    let names;
    try {
        names = await readdir(logDir(stateDir, workload));
    }
    catch (err) {
        if (err.code === 'ENOENT')
            return [];
        throw err;
    }
    return names
        .flatMap((name) => {
        const match = fileName.exec(name);
        if (!match)
            return [];
        const attempt = Number(match[1]);
        const restart = Number(match[2]);
        return [{ attempt, restart, path: logFile(stateDir, workload, attempt, restart) }];
    })
        .sort((a, b) => a.attempt - b.attempt || a.restart - b.restart);
}
/** The current incarnation's log, or the one before it; undefined when there is none. */
export function pickLog(logs, previous) {
    return logs[logs.length - (previous ? 2 : 1)];
}
/**
 * Whether the incarnation can write no more: the Workload is gone from this node or re-created, rescheduled
 * (a new attempt), restarted since, or finished for good.
 */
export function incarnationEnded(workload, uid, log) {
    if (!workload || workload.metadata.uid !== uid)
        return true;
    if ((workload.status?.attempt ?? 1) !== log.attempt)
        return true;
    if ((workload.status?.restartCount ?? 0) > log.restart)
        return true;
    return isTerminal(workload);
}
