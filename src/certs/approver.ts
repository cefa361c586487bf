/**
 * Approves or denies one pending CSR of the tunnel's signers through the
 * `/approval` subresource. Denials carry reason `TunnelPolicy` and a
 * message naming the broken rule (see approver-policy.ts).
 */
import type { CsrClient, CsrRecord } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import type { ApproverPolicy, CsrFacts, PolicyDecision } from './approver-policy.js';
import { parseCsrPem } from './csr-request.js';
import type { SignerMetrics } from './signer-metrics.js';

/** Reason of the conditions the tunnel's approver and signer write. */
export const POLICY_REASON = 'TunnelPolicy';

/** The policy facts of a CSR; a request that does not parse is undefined. */
export function csrFacts(csr: CsrRecord): CsrFacts | undefined {
  try {
    return {
      signerName: csr.signerName,
      ...(csr.username !== undefined ? { username: csr.username } : {}),
      groups: csr.groups,
      usages: csr.usages,
      request: parseCsrPem(csr.request),
    };
  } catch {
    return undefined;
  }
}

/** What approveOrDeny needs. */
export interface ApproverDeps {
  csrs: CsrClient;
  policy: ApproverPolicy;
  logger: Logger;
  metrics?: SignerMetrics;
}

/** Decides `csr` and writes the decision; resolves with the updated CSR and the decision. */
export async function approveOrDeny(csr: CsrRecord, deps: ApproverDeps): Promise<{ csr: CsrRecord; decision: PolicyDecision }> {
  const facts = csrFacts(csr);
  const decision: PolicyDecision = facts
    ? deps.policy.decide(facts)
    : { allowed: false, rule: 'signature', message: 'rule signature: spec.request is not a PKCS#10 certificate request' };
  const log = { csr: csr.name, signer: csr.signerName, requester: csr.username };
  if (decision.allowed) {
    const updated = await deps.csrs.setApproval(csr, { type: 'Approved', reason: POLICY_REASON, message: `approved by the tunnel signer: ${decision.summary}` });
    deps.logger.info('approved certificate signing request', { ...log, summary: decision.summary });
    deps.metrics?.decisions.inc({ signer: csr.signerName, decision: 'approved', rule: '' });
    return { csr: updated, decision };
  }
  const updated = await deps.csrs.setApproval(csr, { type: 'Denied', reason: POLICY_REASON, message: decision.message });
  deps.logger.warn('denied certificate signing request', { ...log, rule: decision.rule, reason: decision.message });
  deps.metrics?.decisions.inc({ signer: csr.signerName, decision: 'denied', rule: decision.rule });
  return { csr: updated, decision };
}
