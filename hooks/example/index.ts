/**
 * The smallest provider: logs the cluster name before the agent connects,
 * and each agent connection on the server. Copy it to start your own
 * (`--hook-module=./my-hook.js`) or run it with `--hook-provider=example`.
 */
import type { HookProvider } from '../../src/hooks/index.js';

const example: HookProvider = {
  name: 'example',
  preStartTunnelAgent(ctx) {
    ctx.logger.info('example hook: agent starting', { clusterName: ctx.clusterName, agentID: ctx.agentID });
  },
  agentConnected(ctx) {
    ctx.logger.info('example hook: agent connected', { agentID: ctx.agentID, identifiers: ctx.identifiers, serverID: ctx.serverID });
  },
};

export default example;
