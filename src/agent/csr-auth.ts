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
 * One that is no longer valid (renewal kept failing past its expiry, or the
 * clock moved) is not presented: new connections use the token again until
 * a valid certificate is there (certificateFallback).
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
import type { CertificateBundle } from '../certs/bundle.js';
import { systemClock, type CertClock, type TimerHandle } from '../certs/clock.js';
import { errorMessage } from '../certs/errors.js';
import { FileChangeWatcher } from '../certs/file-watch.js';
import { parseCertificates } from '../certs/pem.js';
import { checkStoredCertificate } from '../certs/stored-certificate.js';
import { csrExpirationSeconds, FILE_POLL_INTERVAL_MS, FILE_RELOAD_DEBOUNCE_MS } from '../certs/timing.js';
import { createCsrClient } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import type { AgentCertSettings } from './cert-settings.js';
import type { AgentConfig } from './config.js';
import { certificateInvalidity, type ConnectionAuth, type ConnectionCredentials } from './connection-auth.js';
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
  const fallback = certificateFallback({
    mgr,
    bootstrap: () => bootstrapWith(caPem),
    tokenFile: s.bootstrapTokenPath,
    clock: systemClock,
    logger: log,
    onRecovered: () => {
      for (const l of [...listeners]) l();
    },
  });
  const inForce = (): ConnectionCredentials => fallback.inForce(current);
  return {
    current: inForce,
    onUpgrade: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    checks: [{ name: 'certificate', check: () => mgr.check() }],
    close: () => {
      watcher.stop();
      fallback.stop();
      return mgr.close();
    },
  };
}

/** What certificateFallback needs of the CSR manager. */
export interface CertificateHolder {
  current(): CertificateBundle | undefined;
  onChange(listener: (bundle: CertificateBundle) => void): () => void;
}

/** Options of certificateFallback. */
export interface CertificateFallbackOptions {
  mgr: CertificateHolder;
  /** The bootstrap credentials as of now (the CA bundle may have been reloaded). */
  bootstrap: () => ConnectionCredentials;
  /** The bootstrap token file (named in the warning). */
  tokenFile: string;
  clock: CertClock;
  logger: Logger;
  /** A valid certificate ends a fallback: the connections made with the token are to be closed. */
  onRecovered: () => void;
}

/**
 * A certificate that is no longer valid (renewal kept failing past its
 * expiry, or the clock moved) is refused at the server's TLS layer, and the
 * renewal itself may go through the tunnel: presenting it would lock the
 * agent out for good. `inForce(current)` hands out the bootstrap
 * credentials instead while the certificate is invalid, with one warning
 * per episode; when the manager then holds a certificate that is valid
 * (a new one, or the same one once the local clock reaches its notBefore),
 * `onRecovered` is called once. A change that leaves the certificate
 * invalid (a CA bundle reload) keeps the fallback.
 */
export function certificateFallback(o: CertificateFallbackOptions): { inForce: (current: ConnectionCredentials) => ConnectionCredentials; stop: () => void } {
  let fallingBack = false;
  let timer: TimerHandle | undefined;
  let stopped = false;
  const clearTimer = (): void => {
    if (timer !== undefined) o.clock.clearTimeout(timer);
    timer = undefined;
  };
  const recoverIfValid = (): void => {
    clearTimer();
    if (!fallingBack || stopped) return;
    const cert = o.mgr.current();
    if (!cert) return;
    const now = o.clock.now();
    if (certificateInvalidity(cert, now) !== undefined) {
      // Not valid yet by this clock: try again at its notBefore. An expired one waits for the next certificate.
      if (now < cert.notBefore.getTime()) timer = o.clock.setTimeout(recoverIfValid, cert.notBefore.getTime() - now);
      return;
    }
    fallingBack = false;
    o.logger.info('a valid certificate is there again; reconnecting with it', { serial: cert.serialNumber, notAfter: cert.notAfter.toISOString() });
    o.onRecovered();
  };
  const removeListener = o.mgr.onChange(() => recoverIfValid());
  const inForce = (current: ConnectionCredentials): ConnectionCredentials => {
    if (current.bootstrap) return current;
    const cert = o.mgr.current();
    const why = cert ? certificateInvalidity(cert, o.clock.now()) : undefined;
    if (cert === undefined || why === undefined) return current;
    if (!fallingBack) {
      fallingBack = true;
      o.logger.warn(`the agent certificate ${why} and no renewal has succeeded; connecting with the bootstrap token until a new certificate is issued`, {
        serial: cert.serialNumber,
        tokenFile: o.tokenFile,
      });
      recoverIfValid();
    }
    return o.bootstrap();
  };
  return {
    inForce,
    stop: () => {
      stopped = true;
      clearTimer();
      removeListener();
    },
  };
}
