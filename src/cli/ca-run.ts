/**
 * Runs `tunnel ca <status|stage|promote|prune>` (parsed by ca-command.ts)
 * against the CA Secret through TunnelCa: prints what is there or what
 * changed and the next step, and returns the exit code (0 done or nothing
 * to do, 1 failure with one line on `err` naming what to fix).
 */
import { X509Certificate } from 'node:crypto';
import type { CaMaterial } from '../certs/ca-secret.js';
import { bundleCertificates } from '../certs/ca-secret.js';
import { systemClock } from '../certs/clock.js';
import { CertError } from '../certs/errors.js';
import { DEFAULT_CA_SECRET_NAME, TunnelCa } from '../certs/tunnel-ca.js';
import { createSecretStore, KubeError, loadKubeConfig, type SecretStore } from '../kube/index.js';
import { silentLogger } from '../observability/logger.js';
import type { CaCommand } from './ca-command.js';

/** Where the output goes. */
export interface CaOutput {
  write(text: string): unknown;
}

/** One CA of the Secret, as printed. */
export interface CaView {
  role: 'signing' | 'staged' | 'retired';
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  expired: boolean;
}

/** What `status` shows (and the other actions, after their change). */
export interface CaStatusView {
  secret: string;
  signing: CaView;
  staged: CaView | null;
  bundle: CaView[];
}

/** Test seam: another SecretStore, another clock. */
export interface CaRunDeps {
  secrets?: SecretStore;
  now?: () => number;
}

const iso = (d: string): string => new Date(d).toISOString();

function view(c: X509Certificate, role: CaView['role'], now: number): CaView {
  return {
    role,
    subject: c.subject.replace(/\n/g, ', '),
    serial: c.serialNumber,
    notBefore: iso(c.validFrom),
    notAfter: iso(c.validTo),
    expired: new Date(c.validTo).getTime() <= now,
  };
}

/** The status of the material `m` of Secret `secret`. */
export function caStatus(secret: string, m: CaMaterial, now: number): CaStatusView {
  const signing = new X509Certificate(m.active.certPem);
  const staged = m.next ? new X509Certificate(m.next.certPem) : undefined;
  const bundle = bundleCertificates(m.bundlePem).map((c) =>
    view(c, c.raw.equals(signing.raw) ? 'signing' : staged && c.raw.equals(staged.raw) ? 'staged' : 'retired', now),
  );
  return { secret, signing: view(signing, 'signing', now), staged: staged ? view(staged, 'staged', now) : null, bundle };
}

function line(v: CaView): string {
  return `${v.role.padEnd(8)} ${v.subject}  serial ${v.serial}  valid ${v.notBefore} to ${v.notAfter}${v.expired ? ' (expired)' : ''}`;
}

/** The human text of a status. */
export function statusText(s: CaStatusView): string {
  return [
    `CA Secret ${s.secret}`,
    `signing CA: ${s.signing.subject}  serial ${s.signing.serial}  valid ${s.signing.notBefore} to ${s.signing.notAfter}`,
    `staged CA:  ${s.staged ? `${s.staged.subject}  serial ${s.staged.serial}  valid ${s.staged.notBefore} to ${s.staged.notAfter}` : 'none'}`,
    `trust bundle (ca-bundle.crt, ${s.bundle.length} CA${s.bundle.length === 1 ? '' : 's'}):`,
    ...s.bundle.map((v) => `  ${line(v)}`),
  ].join('\n');
}

interface Outcome {
  changed: boolean;
  message: string;
  next: string;
  status: CaStatusView;
}

/** Runs the command; returns the exit code. */
export async function runCaCommand(cmd: CaCommand, out: CaOutput, err: CaOutput, deps: CaRunDeps = {}): Promise<number> {
  const now = deps.now ?? Date.now;
  const secretRef = `${cmd.namespace}/${DEFAULT_CA_SECRET_NAME}`;
  try {
    const secrets = deps.secrets ?? createSecretStore(loadKubeConfig({ kubeconfigPath: cmd.kubeconfig }));
    const ca = new TunnelCa({ secrets, logger: silentLogger(), namespace: cmd.namespace, clock: { ...systemClock, now } });
    const outcome = await act(cmd, ca, secretRef, now);
    if (cmd.output === 'json') {
      out.write(`${JSON.stringify(cmd.action === 'status' ? outcome.status : { action: cmd.action, changed: outcome.changed, message: outcome.message, next: outcome.next, ...outcome.status }, null, 2)}\n`);
    } else {
      const text = cmd.action === 'status' ? statusText(outcome.status) : `${outcome.message}\n\n${statusText(outcome.status)}`;
      out.write(`${text}${outcome.next ? `\n\nNext: ${outcome.next}` : ''}\n`);
    }
    return 0;
  } catch (e) {
    err.write(`tunnel ca ${cmd.action}: ${describe(e, cmd, secretRef)}\n`);
    return 1;
  }
}

async function act(cmd: CaCommand, ca: TunnelCa, secretRef: string, now: () => number): Promise<Outcome> {
  const before = await ca.load();
  const status = (m: CaMaterial): CaStatusView => caStatus(secretRef, m, now());
  const serial = (pem: string): string => new X509Certificate(pem).serialNumber;
  switch (cmd.action) {
    case 'status': {
      const s = status(before);
      const next = s.staged
        ? 'a CA is staged: once every agent\'s bootstrap Secret holds the bundle and the servers have reloaded it (--ca-reload-interval), run tunnel ca promote'
        : s.bundle.some((b) => b.role === 'retired')
          ? 'retired CAs are still trusted; tunnel ca prune drops the expired ones (--include-unexpired: all of them, once nothing they signed is in use)'
          : '';
      return { changed: false, message: '', next, status: s };
    }
    case 'stage': {
      if (before.next) {
        return {
          changed: false,
          message: `a CA is already staged (serial ${serial(before.next.certPem)}); nothing changed`,
          next: stageNext(cmd.namespace),
          status: status(before),
        };
      }
      const after = await ca.stageRotation();
      return {
        changed: true,
        message: `staged a new CA (serial ${serial(after.next!.certPem)}): it is in the trust bundle and signs nothing yet`,
        next: stageNext(cmd.namespace),
        status: status(after),
      };
    }
    case 'promote': {
      if (!before.next) {
        throw new CertError('ERR_CERT_CONFIG', `CA Secret ${secretRef} has no staged CA to promote; run tunnel ca stage first (and distribute the bundle before promoting)`);
      }
      const after = await ca.promoteRotation();
      return {
        changed: true,
        message: `promoted CA serial ${serial(after.active.certPem)}: it signs every new certificate from now on; the previous CA (serial ${serial(before.active.certPem)}) stays in the trust bundle`,
        next:
          'servers renew their own certificate under the new CA within --ca-reload-interval (default 5m); agents keep their certificates, still trusted, until they renew them (70-90 % of --cert-lifetime). ' +
          'Once nothing signed by the previous CA is in use (at most one --cert-lifetime from now), run tunnel ca prune --include-unexpired and copy the smaller bundle into the bootstrap Secrets; plain tunnel ca prune drops it only once it has expired',
        status: status(after),
      };
    }
    case 'prune': {
      const after = cmd.includeUnexpired ? await ca.pruneBundle(() => false) : await ca.pruneBundle();
      const removed = bundleCertificates(before.bundlePem).length - bundleCertificates(after.bundlePem).length;
      const s = status(after);
      const left = s.bundle.filter((b) => b.role === 'retired');
      if (removed === 0) {
        return {
          changed: false,
          message:
            left.length === 0
              ? 'nothing to prune: the bundle holds only the signing CA' + (s.staged ? ' and the staged CA' : '')
              : `nothing to prune: ${left.length} retired CA${left.length === 1 ? ' has' : 's have'} not expired (tunnel ca prune --include-unexpired drops ${left.length === 1 ? 'it' : 'them'} once nothing ${left.length === 1 ? 'it' : 'they'} signed is in use)`,
          next: '',
          status: s,
        };
      }
      return {
        changed: true,
        message: `removed ${removed} retired CA${removed === 1 ? '' : 's'} from the trust bundle; the signing CA${s.staged ? ' and the staged CA' : ''} stay`,
        next: `servers stop trusting ${removed === 1 ? 'it' : 'them'} within --ca-reload-interval; copy the new bundle into every bootstrap Secret (${bundleCommand(cmd.namespace)}) so that agents stop trusting ${removed === 1 ? 'it' : 'them'} too`,
        status: s,
      };
    }
  }
}

function bundleCommand(ns: string): string {
  return `kubectl -n ${ns} get secret ${DEFAULT_CA_SECRET_NAME} -o jsonpath='{.data.ca-bundle\\.crt}' | base64 -d > tunnel-ca.crt`;
}

function stageNext(ns: string): string {
  return (
    `1) copy the new trust bundle into every managed cluster's bootstrap Secret (key ca.crt, the agents' --ca-cert; agents reload the file without a restart): ${bundleCommand(ns)}; ` +
    '2) wait until every server has re-read the CA Secret (--ca-reload-interval, default 5m); 3) tunnel ca promote'
  );
}

function describe(e: unknown, cmd: CaCommand, secretRef: string): string {
  const where = cmd.kubeconfig !== '' ? `--kubeconfig ${cmd.kubeconfig}` : 'the in-cluster configuration';
  if (e instanceof KubeError) {
    if (e.status === 403) {
      return `${e.message} (the identity of ${where} needs get and update on Secret ${secretRef}: bind the Role of deploy/one-to-many/meta/15-server-rbac-csr.yaml, or run this in a server pod)`;
    }
    if (e.status === 401) return `${e.message} (the credentials of ${where} are not accepted)`;
    if (e.code === 'ERR_KUBE_UNREACHABLE' || e.code === 'ERR_KUBE_TIMEOUT') return `${e.message} (check the server address of ${where})`;
    if (e.code === 'ERR_KUBE_CONFIG') return `${e.message} (fix --kubeconfig)`;
    if (e.status === 409) return `${e.message} (the Secret kept changing while this ran; run it again)`;
    return e.message;
  }
  if (e instanceof CertError && e.code === 'ERR_CA_SECRET_INVALID' && /does not exist$/.test(e.message)) {
    return `${e.message}: check --namespace (the server's --namespace) and ${where}; a server with --cert-source=csr creates it at its first start`;
  }
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}
