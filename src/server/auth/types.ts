/**
 * Agent authentication contract. The AgentService handler calls an
 * AgentAuthenticator for every Connect before it sends any header; the
 * identity it returns bounds what the agent may announce.
 */
import type { PeerCertificate } from 'node:tls';

export interface AgentAuthContext {
  /** The `agentid` the agent announced. */
  agentID: string;
  /** The raw `agentidentifiers` string the agent announced (may be ''). */
  identifiers: string;
  /** Every `authorization` metadata value sent (upstream requires exactly one "Bearer <token>" for token auth). */
  authorization: string[];
  /** The verified client certificate, when the agent port requires mTLS. */
  peerCertificate?: PeerCertificate;
  /** Remote address, for logs. */
  peer: string;
}

export interface AgentIdentity {
  /** Who the agent proved to be, for logs and the admin view (cert subject CN, ServiceAccount user name, or 'anonymous'). */
  subject: string;
  method: 'mtls' | 'token' | 'none';
  /**
   * Agent ids this identity may announce; undefined = any. A Connect whose
   * `agentid` is not listed is refused.
   */
  allowedAgentIDs?: string[];
  /**
   * `host=` identifiers this identity may announce; undefined = any. A Connect
   * announcing another host is refused.
   */
  allowedHosts?: string[];
}

export interface AgentAuthenticator {
  /** Resolves with the identity, or rejects with an AgentAuthError saying what to fix. */
  authenticate(ctx: AgentAuthContext): Promise<AgentIdentity>;
}

/** Refusal of a Connect; sent to the agent as gRPC UNAUTHENTICATED (or PERMISSION_DENIED) with this message. */
export class AgentAuthError extends Error {
  readonly code: 'ERR_AGENT_UNAUTHENTICATED' | 'ERR_AGENT_FORBIDDEN';
  constructor(code: AgentAuthError['code'], message: string) {
    super(message);
    this.name = 'AgentAuthError';
    this.code = code;
  }
}

/** Accepts every agent; used when the agent port has neither client certificates nor token auth configured. */
export const allowAllAuthenticator: AgentAuthenticator = {
  authenticate: () => Promise.resolve({ subject: 'anonymous', method: 'none' }),
};
