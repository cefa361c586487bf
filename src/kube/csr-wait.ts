/**
 * Waiting for a CSR to be decided: a watch on that one CSR (field selector
 * metadata.name) plus a periodic re-read in case the watch breaks, until it
 * is Denied, Failed or has its certificate, or the wait times out.
 */
import { KubeError } from './errors.js';
import type { CsrClient, CsrRecord, CsrWatch } from './csr-types.js';

/** Where a CSR stands. */
export type CsrOutcome = 'issued' | 'denied' | 'failed' | 'pending';

/** The outcome of a CSR: Denied and Failed win over a certificate; no decision yet = pending. */
export function csrOutcome(csr: CsrRecord): CsrOutcome {
  const has = (t: string): boolean => csr.conditions.some((c) => c.type === t && c.status === 'True');
  if (has('Denied')) return 'denied';
  if (has('Failed')) return 'failed';
  if (csr.certificate) return 'issued';
  return 'pending';
}

/** Options of waitForCsr. */
export interface WaitForCsrOptions {
  /** Give up (outcome 'pending') after this long. */
  timeoutMs: number;
  /** Re-read the CSR this often besides watching; default 5 s. */
  pollIntervalMs?: number;
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Resolves with the CSR and its outcome once it is issued, denied or
 * failed, or with outcome 'pending' after `timeoutMs`. Rejects with
 * KubeError NotFound when the CSR is (or gets) deleted, or when the API
 * cannot be asked at the start.
 */
export function waitForCsr(client: CsrClient, name: string, opts: WaitForCsrOptions): Promise<{ outcome: CsrOutcome; csr: CsrRecord }> {
  return new Promise((resolve, reject) => {
    let latest: CsrRecord | undefined;
    let finished = false;
    let watch: CsrWatch | undefined;
    let poll: NodeJS.Timeout | undefined;
    const gone = (): KubeError =>
      new KubeError('ERR_KUBE_API', `CertificateSigningRequest ${name} was deleted before it was decided`, { status: 404, reason: 'NotFound' });
    const finish = (result?: { outcome: CsrOutcome; csr: CsrRecord }, err?: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (poll) clearTimeout(poll);
      watch?.stop();
      opts.signal?.removeEventListener('abort', onAbort);
      if (result) resolve(result);
      else reject(err);
    };
    const consider = (csr: CsrRecord): void => {
      latest = csr;
      const outcome = csrOutcome(csr);
      if (outcome !== 'pending') finish({ outcome, csr });
    };
    const onAbort = (): void => finish(undefined, opts.signal?.reason);
    const timer = setTimeout(() => (latest ? finish({ outcome: 'pending', csr: latest }) : finish(undefined, gone())), opts.timeoutMs);
    timer.unref();
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort);

    const startWatch = async (): Promise<void> => {
      if (finished) return;
      watch = await client.watch({
        fieldSelector: `metadata.name=${name}`,
        ...(latest?.resourceVersion ? { resourceVersion: latest.resourceVersion } : {}),
        onEvent: (e) => (e.type === 'DELETED' ? finish(undefined, gone()) : consider(e.csr)),
        // A broken watch is not fatal: the poll below keeps reading, and restarts it.
        onEnd: () => {
          watch = undefined;
        },
      });
      if (finished) watch.stop();
    };
    const schedulePoll = (): void => {
      poll = setTimeout(() => {
        void (async () => {
          try {
            const csr = await client.get(name);
            if (!csr) return finish(undefined, gone());
            consider(csr);
            if (!finished && !watch) await startWatch();
          } catch {
            // Transient API failure: try again at the next poll, until the timeout.
          }
          if (!finished) schedulePoll();
        })();
      }, opts.pollIntervalMs ?? 5_000);
      poll.unref();
    };

    void (async () => {
      try {
        const csr = await client.get(name);
        if (!csr) return finish(undefined, gone());
        consider(csr);
        await startWatch();
      } catch (err) {
        return finish(undefined, err);
      }
      schedulePoll();
    })();
  });
}
