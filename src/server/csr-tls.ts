/**
 * The server in csr mode (--cert-source=csr):
 *
 * 1. runs the tunnel's signer/approver (SignerController) for
 *    `<prefix>/agent` and `<prefix>/server`, with the tunnel CA in the Secret
 *    `tunnel-ca` of --namespace. It approves agent certificates only for a
 *    cluster's bootstrap ServiceAccount `<namespace>/tunnel-bootstrap-<cluster>`
 *    and server certificates only for the server's own ServiceAccount;
 * 2. gets its own serving certificate through a CsrManager (CN
 *    `tunnel-server`, SANs from --cert-san, env POD_IP, localhost,
 *    127.0.0.1), renewed before expiry and swapped into both listeners;
 *    a stored one is reused at start;
 * 3. asks agents for a certificate of the tunnel CA (or --cluster-ca-cert)
 *    without requiring one, and accepts a bootstrap token instead
 *    (auth/bootstrap-token.ts), so a new agent can connect to get its
 *    certificate. A certificate that is presented but does not verify is
 *    refused right after the TLS handshake (agent-tls-gate.ts).
 *
 * 4. re-reads the CA Secret every --ca-reload-interval (default 5 min): the
 *    trust bundle (a CA staged by `tunnel ca stage`) reaches both listeners,
 *    and once another CA signs (`tunnel ca promote`, by any process) the
 *    server renews its own certificate under it at once instead of at the
 *    usual 70-90 % of its lifetime. Agent certificates need no reload: the
 *    signer reads the signing CA from the Secret for every CSR.
 *
 * The first certificate must be obtained before the server starts: a CSR
 * that is denied (e.g. --kubeconfig is not the server's ServiceAccount) stops
 * the start with the reason. Readiness includes the manager's check().
 */
import { X509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import {
  ApproverPolicy,
  bootstrapServiceAccountRule,
  CsrCertificateSource,
  CsrManager,
  csrApiRequester,
  serverProfile,
  SignerController,
} from '../certs/index.js';
import { checkStoredCertificate } from '../certs/stored-certificate.js';
import { csrExpirationSeconds, MIN_LEAF_LIFETIME_MS } from '../certs/timing.js';
import { createCsrClient, createSecretStore, createTokenReviewer, loadKubeConfig } from '../kube/index.js';
import type { Logger } from '../observability/logger.js';
import { bootstrapTokenRule, certificateOrToken } from './auth/bootstrap-token.js';
import { mtlsAuthenticatorFor } from './auth/mtls.js';
import { createTokenAuthenticator } from './auth/token-authenticator.js';
import type { AgentAuthenticator } from './auth/types.js';
import type { ServerConfig } from './config.js';
import { ServerError } from './errors.js';
import { readPem, type ServerTls } from './server-tls.js';

/** Default of how often the CA Secret is re-read (--ca-reload-interval): a staged CA reaches the listeners, a promoted one the server's own certificate. */
export const TRUST_BUNDLE_REFRESH_MS = 5 * 60_000;

/** What csr mode gives the TunnelServer. */
export interface CsrServerWiring {
  tls: ServerTls;
  /** Certificate of the tunnel CA, else a bootstrap token (or the upstream token rule when configured). */
  authenticator: AgentAuthenticator;
}

/** What openCsrServerTls needs besides the config. */
export interface CsrServerDeps {
  logger: Logger;
  registry: Registry;
  /** The meta cluster; default --kubeconfig, else in-cluster. */
  kubeConfig?: KubeConfig;
}

/** Starts the signer, obtains the serving certificate; on failure everything started is stopped again. */
export async function openCsrServerTls(c: ServerConfig, deps: CsrServerDeps): Promise<CsrServerWiring> {
  const s = c.certs;
  if (!s || s.source !== 'csr') throw new ServerError('ERR_BAD_CONFIG', 'openCsrServerTls needs --cert-source=csr');
  if (s.certDir === '') throw new ServerError('ERR_BAD_CONFIG', '--cert-source=csr needs --cert-dir');
  const log = deps.logger.child({ component: 'certificates' });
  const kc = deps.kubeConfig ?? loadKubeConfig({ kubeconfigPath: c.kubeconfig });
  const ipAddresses = s.sans.filter((n) => net.isIP(n) !== 0);
  const dnsNames = s.sans.filter((n) => net.isIP(n) === 0);
  const serverUser = `system:serviceaccount:${s.namespace}:${s.serverServiceAccount}`;
  const policy = new ApproverPolicy({
    signerPrefix: s.signerNamePrefix,
    clusterOfRequester: bootstrapServiceAccountRule(s.namespace),
    serverRequesters: [serverUser],
    serverSans: { dnsNames, ipAddresses },
  });
  const signer = new SignerController({
    csrs: createCsrClient(kc),
    secrets: createSecretStore(kc),
    policy,
    // A --cert-lifetime under the 10-minute floor is only accepted under TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1 (tests): the floor follows it.
    lifetime: { certLifetimeMs: s.certLifetimeMs, minLifetimeMs: Math.min(MIN_LEAF_LIFETIME_MS, s.certLifetimeMs) },
    caNamespace: s.namespace,
    logger: deps.logger.child({ component: 'signer' }),
    registry: deps.registry,
  });
  const extraCa = c.clusterCaCert ? readPem(c.clusterCaCert, '--cluster-ca-cert').toString('utf8') : '';
  const caPemOf = (trust: string): string => (extraCa.trim() === '' ? trust : `${trust.trimEnd()}\n${extraCa}`);
  let mgr: CsrManager | undefined;
  let timer: NodeJS.Timeout | undefined;
  const close = async (): Promise<void> => {
    if (timer) clearInterval(timer);
    await mgr?.close();
    await signer.stop();
  };
  try {
    await signer.start();
    const caPem = caPemOf(await signer.ca.trustBundle());
    const profile = serverProfile({ signerPrefix: s.signerNamePrefix, dnsNames, ipAddresses });
    mgr = new CsrManager({
      ...profile,
      certDir: s.certDir,
      caPem,
      requester: csrApiRequester(createCsrClient(kc), { logger: log }),
      expirationSeconds: csrExpirationSeconds(s.certLifetimeMs),
      logger: log,
      registry: deps.registry,
    });
    await mkdir(s.certDir, { recursive: true, mode: 0o700 });
    const stored = await checkStoredCertificate({ certDir: s.certDir, name: profile.name, caPem, commonName: profile.subject.commonName, logger: log });
    // Without a usable stored certificate, one attempt now: a denial stops the start with its reason.
    if (stored.state !== 'usable') await mgr.rotate();
    await mgr.start();
    const manager = mgr;
    let reloading = false;
    const reload = async (): Promise<void> => {
      const m = await signer.ca.load();
      manager.setCaPem(caPemOf(m.bundlePem));
      const current = manager.current();
      if (!current) return;
      const signing = new X509Certificate(m.active.certPem);
      const leaf = new X509Certificate(current.certPem);
      if (leaf.checkIssued(signing) && leaf.verify(signing.publicKey)) return;
      log.info('the tunnel CA was rotated; renewing the server certificate under the signing CA', { serial: leaf.serialNumber, ca: signing.subject, caSerial: signing.serialNumber });
      await manager.rotate();
      log.info('server certificate renewed under the signing CA', { serial: new X509Certificate(manager.current()!.certPem).serialNumber });
    };
    timer = setInterval(() => {
      if (reloading) return;
      reloading = true;
      reload()
        .catch((err: unknown) => log.warn('cannot reload the tunnel CA; keeping the current bundle and certificate until the next attempt', { error: (err as Error).message }))
        .finally(() => {
          reloading = false;
        });
    }, s.caReloadMs ?? TRUST_BUNDLE_REFRESH_MS);
    timer.unref();
    const source = new CsrCertificateSource(manager);
    const tls: ServerTls = {
      agent: source,
      clientCerts: 'request',
      openFrontend: () => Promise.resolve({ source, ...(c.serverCaCert ? { clientCa: readPem(c.serverCaCert, '--server-ca-cert') } : {}) }),
      checks: [{ name: 'certificate', check: () => manager.check() }],
      close,
    };
    log.info('certificates from the Kubernetes CSR API', {
      signers: `${s.signerNamePrefix}/server, ${s.signerNamePrefix}/agent`,
      namespace: s.namespace,
      serverRequester: serverUser,
      sans: s.sans.join(','),
    });
    const tokens = createTokenAuthenticator({
      namespace: c.agentNamespace,
      serviceAccount: c.agentServiceAccount,
      audience: c.authenticationAudience,
      reviewer: createTokenReviewer(kc),
      logger: deps.logger,
      extraUsers: bootstrapTokenRule(s.namespace),
    });
    return { tls, authenticator: certificateOrToken(tokens, mtlsAuthenticatorFor({ bindCommonName: c.bindAgentIdToCn })) };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
