/** A fake meta cluster for the CSR tests: bootstrap and server ServiceAccounts, clients for each, a signer controller. */
import { Writable } from 'node:stream';
import winston from 'winston';
import { ApproverPolicy } from '../../../src/certs/approver-policy.js';
import type { CertClock } from '../../../src/certs/clock.js';
import { csrApiRequester } from '../../../src/certs/csr-requester.js';
import { SignerController } from '../../../src/certs/signer-controller.js';
import type { LifetimePolicy } from '../../../src/certs/signer.js';
import { bootstrapUser } from '../../../src/certs/signer-names.js';
import { createCsrClient, createSecretStore, type CsrClient } from '../../../src/kube/index.js';
import type { Logger } from '../../../src/observability/logger.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { FakeKube } from '../../support/fake-kube/index.js';

/** The server's ServiceAccount user. */
export const SERVER_USER = 'system:serviceaccount:kube-system:tunnel-server';

/** A CSR client acting as the bootstrap ServiceAccount of `cluster` (created when missing). */
export function bootstrapClient(fake: FakeKube, cluster: string): CsrClient {
  const sa = `tunnel-bootstrap-${cluster}`;
  if (!fake.store.get('serviceaccounts', 'kube-system', sa)) fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: sa } });
  return createCsrClient(fake.kubeConfigForToken(fake.issueToken('kube-system', sa)));
}

/** A CSR client acting as the tunnel server's ServiceAccount. */
export function serverClient(fake: FakeKube): CsrClient {
  if (!fake.store.get('serviceaccounts', 'kube-system', 'tunnel-server')) {
    fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: 'tunnel-server' } });
  }
  return createCsrClient(fake.kubeConfigForToken(fake.issueToken('kube-system', 'tunnel-server')));
}

/** The policy of these tests: servers may carry localhost and 127.0.0.1. */
export function testPolicy(): ApproverPolicy {
  return new ApproverPolicy({ serverRequesters: [SERVER_USER], serverSans: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } });
}

/** A signer controller acting as admin. */
export function signerFor(
  fake: FakeKube,
  opts: { lifetime?: LifetimePolicy; clock?: CertClock; logger?: Logger; caSecretName?: string; approve?: boolean; registry?: import('prom-client').Registry } = {},
): SignerController {
  return new SignerController({
    csrs: createCsrClient(fake.kubeConfig()),
    secrets: createSecretStore(fake.kubeConfig()),
    policy: testPolicy(),
    lifetime: opts.lifetime ?? { certLifetimeMs: 3_600_000 },
    logger: opts.logger ?? silentLogger(),
    retryInitialMs: 100,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.caSecretName ? { caSecretName: opts.caSecretName } : {}),
    ...(opts.approve !== undefined ? { approve: opts.approve } : {}),
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
}

/** A requester for `csrs` with a short pending timeout. */
export function requesterFor(csrs: CsrClient, pendingTimeoutMs = 10_000): ReturnType<typeof csrApiRequester> {
  return csrApiRequester(csrs, { logger: silentLogger(), pendingTimeoutMs, pollIntervalMs: 200 });
}

/** A logger whose lines (parsed JSON) land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines };
}

export { bootstrapUser };
