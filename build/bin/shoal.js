#!/usr/bin/env node
// The single binary of the image: `shoal operator [flags]` or `shoal agent [flags]`.
const [command, ...args] = process.argv.slice(2);
async function main() {
    switch (command) {
        case 'operator': {
            const { runOperator } = await import("../operator/src/main.js");
            return runOperator(args);
        }
        case 'agent': {
            const { runAgent } = await import("../agents/main.js");
            return runAgent(args);
        }
        default:
            process.stderr.write(`usage: shoal operator|agent [--help]\nunknown command ${JSON.stringify(command ?? '')}\n`);
            return 2;
    }
}
// Flag and configuration errors end here, before any loop started: say what is wrong, exit 2.
async function run() {
    try {
        return await main();
    }
    catch (err) {
        process.stderr.write(`shoal ${command ?? ''}: ${err instanceof Error ? err.message : String(err)}\n`);
        return 2;
    }
}
// Every loop has stopped by the time main returns; exiting explicitly keeps a stray handle from holding PID 1.
process.exit(await run());
export {};
