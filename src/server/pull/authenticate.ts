/**
 * Authentication of pull calls, exactly as Connect authenticates an agent:
 * one `agentid`, at most one `agentidentifiers`, the same authenticator (client
 * certificate or token), and the same rules on what the identity may announce
 * (checkAllowed). On top of that, pull needs an authenticated identity: an
 * anonymous agent (a server with neither client certificates nor token
 * authentication) may push but never pull.
 */
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { parseIdentifiers, TEXT } from '../../protocol/index.js';
import { MD } from '../../transport/services.js';
import type { AgentAuthenticator } from '../auth/types.js';
import { authRefusal, checkAllowed, type Refusal, values } from '../connect-handler.js';
import { pullPrincipal, type PullPrincipal } from './principal.js';

/** What a pull call shows of its caller. */
export interface PullCaller {
  metadata: grpc.Metadata;
  /** The verified client certificate, when the agent port requires one. */
  peerCertificate: PeerCertificate | undefined;
  peer: string;
}

/** The principal, or why the call is refused (and the agent id it announced, if one). */
export type PullAuthOutcome = { principal: PullPrincipal } | { refusal: Refusal; agentID?: string };

/** Authenticates a pull call's caller; never throws. */
export async function authenticatePull(caller: PullCaller, authenticator: AgentAuthenticator): Promise<PullAuthOutcome> {
  const md = caller.metadata;
  const ids = values(md, MD.agentID);
  if (ids.length !== 1) {
    return {
      refusal: {
        code: grpc.status.INVALID_ARGUMENT,
        message: `${TEXT.expectedOneAgentID} in the ${MD.agentID} metadata, got ${ids.length}`,
        reason: 'agent_id',
      },
    };
  }
  const agentID = ids[0]!;
  const identValues = values(md, MD.agentIdentifiers);
  if (identValues.length > 1) {
    return {
      agentID,
      refusal: {
        code: grpc.status.INVALID_ARGUMENT,
        message: `expected at most one ${MD.agentIdentifiers} value, got ${identValues.length}`,
        reason: 'agent_identifiers',
      },
    };
  }
  const identifiersText = identValues[0] ?? '';
  let identity;
  try {
    identity = await authenticator.authenticate({
      agentID,
      identifiers: identifiersText,
      authorization: md.get(MD.authorization).map(String),
      ...(caller.peerCertificate ? { peerCertificate: caller.peerCertificate } : {}),
      peer: caller.peer,
    });
  } catch (e) {
    return { agentID, refusal: authRefusal(e) };
  }
  const notAllowed = checkAllowed(identity, agentID, parseIdentifiers(identifiersText, false));
  if (notAllowed) return { agentID, refusal: { code: grpc.status.PERMISSION_DENIED, message: notAllowed, reason: 'not_allowed' } };
  const principal = pullPrincipal(agentID, identity);
  if (!principal) {
    return {
      agentID,
      refusal: {
        code: grpc.status.PERMISSION_DENIED,
        message:
          'pull mode needs an authenticated agent: this server authenticates agents neither by client certificate (--cluster-ca-cert) nor by token (--agent-namespace)',
        reason: 'anonymous',
      },
    };
  }
  return { principal };
}
