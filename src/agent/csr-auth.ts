/**
 * The agent in csr mode (--cert-source=csr): it starts with the token of
 * its cluster's bootstrap ServiceAccount (--bootstrap-token-path) and the
 * tunnel CA bundle (--ca-cert), connects with the token, requests
 * `CN=tunnel-agent:<cluster>` from the `<prefix>/agent` signer through the
 * meta cluster's CSR API (acting as the bootstrap ServiceAccount), then
 * reconnects with the certificate. The certificate is kept in --cert-dir and
 * renewed before it expires (new handshakes use the new one; open
 * connections stay). At a restart a stored certificate that is still valid,
 * of this cluster and of the current CA is used at once, without the token.
 *
 * The CA bundle file (--ca-cert, usually the bootstrap Secret mounted as a
 * volume) is followed on disk: when a CA rotation adds the new CA to the
 * Secret, new handshakes trust it without a restart (open connections stay).
 * A changed file that holds no valid certificate is logged and ignored.
 *
 * The server's certificate is checked against the tunnel CA bundle; its
 * name must match the dialed host, or its CN be the tunnel server's
 * (`tunnel-server`): the tunnel CA issues that CN only to the server's own
 * ServiceAccount, and the server cannot know every name agents dial.
 */
import * as grpc from '@grpc/grpc-js';
import type { KubeConfig } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import tls, { type PeerCertificate } from 'node:tls';
import type { Registry } from 'prom-client';
import {
  agentProfile,
  channelCredentialsFromSource,
  CsrCertificateSource,
  CsrManager,
  csrApiRequester,
  DEFAULT_SERVER_COMMON_NAME,
} from '../certs/index.js';
import { systemClock } from '../certs/clock.js';
import { errorMessage } from '../certs/errors.js';
import { FileChangeWatcher } from '../certs/file-watch.js';
import { parseCertificates } from '../certs/pem.js';
import { checkStoredCertificate } from '../certs/stored-certificate.js';
import { csrExpirationSeconds, FILE_POLL_INTERVAL_MS, FILE_RELOAD_DEBOUNCE_MS } from '../certs/timing.js';
import { createCsrClient } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import type { AgentCertSettings } from './cert-settings.js';
import type { AgentConfig } from './config.js';
import type { ConnectionAuth, ConnectionCredentials } from './connection-auth.js';
import { AgentConfigError } from './errors.js';

/** What openCsrAuth needs. */
export interface CsrAuthOptions {
  config: AgentConfig;
  settings: AgentCertSettings;
  /** The cluster this agent serves (resolved --cluster-name). */
  clusterName: string;
  /** The meta cluster's API, acting as the bootstrap ServiceAccount. */
  metaKubeConfig: KubeConfig;
  logger: Logger;
  registry: Registry;
}

/** Accepts the dialed host's name, or else the tunnel server's CN (see the file comment). */
export function tunnelServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const err = tls.checkServerIdentity(host, cert);
  if (!err) return undefined;
  const cn = cert.subject?.CN;
  return (Array.isArray(cn) ? cn[0] : cn) === DEFAULT_SERVER_COMMON_NAME ? undefined : err;
}

/** Opens csr mode: uses a stored certificate at once, or the token while the first one is requested. */
export async function openCsrAuth(o: CsrAuthOptions): Promise<ConnectionAuth> {
  const s = o.settings;
  const log = o.logger.child({ component: 'certificates' });
  let caPem: string;
  try {
    caPem = await readFile(o.config.caCert, 'utf8');
  } catch (err) {
    throw new AgentConfigError(`--ca-cert ${o.config.caCert} (the tunnel CA bundle) cannot be read: ${(err as Error).message}`);
  }
  const profile = agentProfile(o.clusterName, { signerPrefix: s.signerNamePrefix });
  const mgr = new CsrManager({
    ...profile,
    certDir: s.certDir,
    caPem,
    requester: csrApiRequester(createCsrClient(o.metaKubeConfig), { logger: log }),
    expirationSeconds: csrExpirationSeconds(s.certLifetimeMs),
    logger: log,
    registry: o.registry,
  });
  const verifyOptions = { checkServerIdentity: tunnelServerIdentity };
  const bootstrapWith = (ca: string): ConnectionCredentials => ({
    credentials: grpc.credentials.createFromSecureContext(tls.createSecureContext({ ca }), verifyOptions),
    tokenPath: s.bootstrapTokenPath,
    bootstrap: true,
  });
  let current = bootstrapWith(caPem);
  const listeners = new Set<() => void>();
  const useCertificate = (): void => {
    current = {
      credentials: channelCredentialsFromSource(new CsrCertificateSource(mgr), { verifyOptions }),
      // Upstream token authentication may still want the ServiceAccount token; never the bootstrap one.
      tokenPath: o.config.serviceAccountTokenPath,
      bootstrap: false,
      clientCertificate: () => mgr.current(),
    };
    for (const l of [...listeners]) l();
  };

  // A rotated CA bundle on disk reaches new handshakes: the certificate's channel credentials through the manager, the bootstrap ones here.
  const watcher = new FileChangeWatcher({
    files: [o.config.caCert],
    clock: systemClock,
    logger: log,
    debounceMs: FILE_RELOAD_DEBOUNCE_MS,
    pollIntervalMs: FILE_POLL_INTERVAL_MS,
    fsWatch: true,
    onChange: () => void reloadCa(),
  });
  const reloadCa = async (): Promise<void> => {
    const sig = await watcher.signature();
    let next: string;
    try {
      next = await readFile(o.config.caCert, 'utf8');
      parseCertificates(next, `--ca-cert ${o.config.caCert}`);
    } catch (err) {
      watcher.markSeen(sig);
      log.warn('the tunnel CA bundle changed but cannot be used; keeping the current one', { file: o.config.caCert, err: errorMessage(err) });
      return;
    }
    watcher.markSeen(sig);
    if (next === caPem) return;
    caPem = next;
    mgr.setCaPem(next);
    if (current.bootstrap) current = bootstrapWith(next);
    log.info('tunnel CA bundle reloaded; new connections trust it', { file: o.config.caCert, certificates: parseCertificates(next, '--ca-cert').length });
  };
  watcher.markSeen(await watcher.signature());
  watcher.start();

  let stored: Awaited<ReturnType<typeof checkStoredCertificate>>;
  try {
    stored = await checkStoredCertificate({
      certDir: s.certDir,
      name: profile.name,
      caPem,
      commonName: profile.subject.commonName,
      logger: log,
    });
    if (stored.state === 'usable') {
      await mgr.start();
      useCertificate();
    }
  } catch (err) {
    watcher.stop();
    throw err;
  }
  if (stored.state !== 'usable') {
    log.info('connecting with the bootstrap token until the certificate is issued', { cluster: o.clusterName, reason: stored.reason });
    mgr.start().then(useCertificate, (err: unknown) => {
      if ((err as { code?: string }).code !== 'ERR_CERT_CLOSED') log.error('certificate request stopped', { error: (err as Error).message });
    });
  }
  // A certificate that is no longer valid (renewal kept failing past its expiry, or the clock
  // moved) is refused at the server's TLS layer, and the renewal itself goes through the tunnel:
  // presenting it would lock the agent out for good. Until a valid one is issued the agent
  // connects with its bootstrap token again, and reconnects with the certificate once it is.
  let fallingBack = false;
  const inForce = (): ConnectionCredentials => {
    if (current.bootstrap) return current;
    const cert = mgr.current();
    const now = systemClock.now();
    const invalid = cert !== undefined && (now >= cert.notAfter.getTime() || now < cert.notBefore.getTime());
    if (invalid && !fallingBack) {
      fallingBack = true;
      const when = now >= cert.notAfter.getTime() ? `expired at ${cert.notAfter.toISOString()}` : `is not valid until ${cert.notBefore.toISOString()} by this machine's clock`;
      log.warn(`the agent certificate ${when} and no renewal has succeeded; connecting with the bootstrap token until a new certificate is issued`, {
        serial: cert.serialNumber,
        tokenFile: s.bootstrapTokenPath,
      });
    }
    return invalid ? bootstrapWith(caPem) : current;
  };
  mgr.onChange(() => {
    if (!fallingBack) return;
    fallingBack = false;
    log.info('a new certificate is issued; reconnecting with it', { serial: mgr.current()?.serialNumber });
    for (const l of [...listeners]) l();
  });
  return {
    current: inForce,
    onUpgrade: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    checks: [{ name: 'certificate', check: () => mgr.check() }],
    close: () => {
      watcher.stop();
      return mgr.close();
    },
  };
}
