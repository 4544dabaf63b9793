#!/usr/bin/env node
// The single binary of the image: `shoal operator [flags]`, `shoal agent [flags]`, or `shoal agent-cleanup`
// (uninstall: gives containerd back its original hosts.toml files).
const [command, ...args] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (command) {
    case 'operator': {
      const { runOperator } = await import('../operator/src/main.ts');
      return runOperator(args);
    }
    case 'agent': {
      const { runAgent } = await import('../agents/main.ts');
      return runAgent(args);
    }
    case 'agent-cleanup': {
      const { runAgentCleanup } = await import('../agents/cleanup.ts');
      return runAgentCleanup(args);
    }
    default:
      process.stderr.write(`usage: shoal operator|agent|agent-cleanup [--help]\nunknown command ${JSON.stringify(command ?? '')}\n`);
      return 2;
  }
}

// Flag and configuration errors end here, before any loop started: say what is wrong, exit 2.
async function run(): Promise<number> {
  try {
    return await main();
  } catch (err) {
    process.stderr.write(`shoal ${command ?? ''}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

// Every loop has stopped by the time main returns; exiting explicitly keeps a stray handle from holding PID 1.
process.exit(await run());
