/**
 * Report the managed cluster's credential, then keep it reported: the hook
 * run reads and reports once (its failure is the hook's failure, so the
 * runner's policy applies); then a background task waits for the source to
 * change, reads again and re-reports when the token or CA differ, retrying
 * failures with backoff, until the agent stops.
 */
import { HookBackoff } from '../backoff.js';
import { sleep } from '../clock.js';
import { errorText } from '../errors.js';
import type { AgentHookContext } from '../types.js';
import { sameCredential, type CredentialSource, type ManagedCredential } from './types.js';

/** Writes the credential where the platform reads it; resolves with what was written, for logs (never the token). */
export type CredentialReporter = (credential: ManagedCredential, signal: AbortSignal) => Promise<string>;

function logFields(cred: ManagedCredential): Record<string, unknown> {
  return cred.expiresAt ? { tokenExpiresAt: cred.expiresAt.toISOString() } : {};
}

/** Reports once within the hook run, then follows changes in the background. */
export async function reportCredential(ctx: AgentHookContext, source: CredentialSource, report: CredentialReporter): Promise<void> {
  const first = await source.current(ctx.signal);
  const target = await report(first, ctx.signal);
  // A run that timed out meanwhile will be retried: it must not leave a second loop behind.
  ctx.signal.throwIfAborted();
  ctx.logger.info('credential reported', { source: source.description, target, ...logFields(first) });
  let last = first;

  ctx.background('credential-refresh', async (signal) => {
    const backoff = new HookBackoff();
    while (!signal.aborted) {
      await source.changed(signal);
      for (;;) {
        if (signal.aborted) return;
        try {
          const cred = await source.current(signal);
          if (!sameCredential(cred, last)) {
            const where = await report(cred, signal);
            last = cred;
            ctx.logger.info('credential re-reported', { source: source.description, target: where, ...logFields(cred) });
          }
          backoff.reset();
          break;
        } catch (err) {
          if (signal.aborted) return;
          const retryInMs = backoff.next();
          ctx.logger.warn('credential refresh failed; will retry', { source: source.description, error: errorText(err), retryInMs });
          if (!(await sleep(ctx.clock, retryInMs, signal))) return;
        }
      }
    }
  });
}
