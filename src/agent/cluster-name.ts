/** The managed cluster's name: --cluster-name, else the first host= identifier, else the agent id. */
import { parseIdentifiers } from '../protocol/index.js';
import type { AgentConfig } from './config.js';

/** Resolves --cluster-name as documented in cert-flags.ts. */
export function clusterNameOf(c: Pick<AgentConfig, 'clusterName' | 'agentIdentifiers' | 'agentID'>): string {
  if (c.clusterName) return c.clusterName;
  return parseIdentifiers(c.agentIdentifiers, false).host[0] ?? c.agentID;
}
