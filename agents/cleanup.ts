// `shoal agent-cleanup`: what uninstalling the agent from a node must undo. The agent itself leaves hosts.toml
// in place when it merely stops (containerd falls back to the registry while the mirror is down, and a restart
// must not flap every registry's config); this restores each file byte for byte, or removes the ones we created.
import { flagHelp, parseFlags, type FlagSpec } from '../operator/src/runtime/flags.ts';
import { createLogger } from '../operator/src/runtime/log.ts';
import { restoreAllHostsToml } from './mirror/policy-applier.ts';

const cleanupFlags = {
  'containerd-config-path': { help: "containerd's registry config_path (certs.d) the agent wrote hosts.toml into.", default: '/etc/containerd/certs.d' },
} satisfies Record<string, FlagSpec>;

export async function runAgentCleanup(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`Usage: shoal agent-cleanup [flags]\n${flagHelp(cleanupFlags)}\n`);
    return 0;
  }
  const flags = parseFlags(cleanupFlags, argv);
  const logger = createLogger({ component: 'agent-cleanup' });
  const { restored, failed } = await restoreAllHostsToml({ certsDir: flags['containerd-config-path'], logger });
  logger.info('hosts.toml restored', { restored, failed });
  return failed.length === 0 ? 0 : 1;
}
