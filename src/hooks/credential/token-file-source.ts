/**
 * The credential from a token file (the agent pod's own projected token,
 * which the kubelet rewrites before it expires): re-read every minute. The
 * CA is `ca.crt` beside the file, else the client configuration's.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { sleep, type HookClock } from '../clock.js';
import { TOKEN_FILE_POLL_MS } from '../defaults.js';
import { errorText, HookError } from '../errors.js';
import { kubeconfigCa } from './cluster-ca.js';
import type { CredentialSource } from './types.js';

/** Options of createTokenFileSource. */
export interface TokenFileSourceOptions {
  /** The managed cluster (for its CA when no ca.crt is beside the file). */
  kubeConfig: KubeConfig;
  file: string;
  clock: HookClock;
  /** Default one minute. */
  pollMs?: number;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A CredentialSource over a token file. */
export function createTokenFileSource(opts: TokenFileSourceOptions): CredentialSource {
  const caFile = path.join(path.dirname(opts.file), 'ca.crt');
  return {
    description: `token file ${opts.file}`,
    async current() {
      let raw: string | undefined;
      try {
        raw = await readOptional(opts.file);
      } catch (err) {
        throw new HookError('ERR_HOOK_CREDENTIAL', `token file ${opts.file} cannot be read: ${errorText(err)}`, { cause: err });
      }
      if (raw === undefined) throw new HookError('ERR_HOOK_CREDENTIAL', `token file ${opts.file} does not exist`);
      const token = raw.trim();
      if (token === '') throw new HookError('ERR_HOOK_CREDENTIAL', `token file ${opts.file} is empty`);
      const ca = await readOptional(caFile).catch(() => undefined);
      return { token, caPem: ca && ca.trim() !== '' ? ca : kubeconfigCa(opts.kubeConfig, `${caFile} does not exist`) };
    },
    async changed(signal) {
      await sleep(opts.clock, opts.pollMs ?? TOKEN_FILE_POLL_MS, signal);
    },
  };
}
