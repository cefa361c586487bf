/**
 * startFakeKube(): an in-process Kubernetes API over HTTPS on 127.0.0.1
 * (certificate from the dev CA) that the real @kubernetes/client-node
 * talks to through a generated kubeconfig. Tests seed and inspect objects
 * through `store`, add users and authorization rules, read the request log,
 * inject faults, and close it in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { Authorizer, type AccessRule } from './authz.js';
import { createHandler, type Interceptor, type RequestRecord } from './handler.js';
import { defaultKinds } from './kinds/index.js';
import { kubeconfigYaml, loadedKubeConfig } from './kubeconfig.js';
import { Registry } from './registry.js';
import { Storage } from './storage.js';
import { DEFAULT_API_AUDIENCES, TokenAuthority, type StaticUser } from './tokens.js';
import type { ResourceKind, UserInfo } from './types.js';

/** Options of startFakeKube. */
export interface FakeKubeOptions {
  /** Kinds served besides the defaults (Namespace, Secret, ServiceAccount, Lease, TokenReview). */
  kinds?: ResourceKind[];
  /** Namespaces to create besides default, kube-system, kube-public and kube-node-lease. */
  namespaces?: string[];
  /** The API server's own audiences; default ['https://kubernetes.default.svc.cluster.local']. */
  apiAudiences?: string[];
  /** Watch events kept for resuming from an older resourceVersion; default 1000. */
  historyLimit?: number;
  /** Clock for timestamps and token expiry; default the wall clock. */
  now?: () => Date;
}

/** A running fake API. */
export interface FakeKube {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** The CA that signed the server certificate (PEM). */
  readonly caPem: string;
  /** A kubeconfig file for the admin user (removed by close()). */
  readonly kubeconfigPath: string;
  /** The admin user's name (`admin`, group system:masters) and token. */
  readonly adminUser: string;
  readonly adminToken: string;
  /** Direct access to objects with the API's semantics (no authentication, no authorization). */
  readonly store: Registry;
  /** Every request served so far, oldest first. */
  readonly requests: readonly RequestRecord[];
  /** Empties the request log. */
  clearRequests(): void;
  /** Resolves with the next finished request that matches (e.g. the next TokenReview). */
  nextRequest(match: (r: RequestRecord) => boolean): Promise<RequestRecord>;
  /** Watch streams open right now. */
  activeWatches(): number;
  /** A loaded KubeConfig for a static user (default admin). */
  kubeConfig(user?: string): KubeConfig;
  /** A loaded KubeConfig that sends this bearer token (e.g. a ServiceAccount token). */
  kubeConfigForToken(token: string): KubeConfig;
  /** Writes a kubeconfig file for a user or a token into the fake's temp dir; returns its path. */
  writeKubeconfig(who: { user?: string; token?: string }): string;
  /** Adds a static user with a bearer token. */
  addUser(u: StaticUser): UserInfo;
  /**
   * Restricts a user (static name or `system:serviceaccount:ns:name`) to
   * what its rules allow; users without rules may do everything.
   */
  allow(user: string, verbs: string | string[], resources: string | string[], namespaces?: string | string[]): void;
  /** allow() with a full rule (API groups, names). */
  allowRule(user: string, rule: AccessRule): void;
  /** Issues a ServiceAccount token as the TokenRequest subresource does; the ServiceAccount must exist. */
  issueToken(namespace: string, serviceAccount: string, opts?: { audiences?: string[]; expirationSeconds?: number }): string;
  /** Makes a token unknown. */
  revokeToken(token: string): void;
  /** Lets `fn` answer resource requests with a fault (e.g. a 500) until the returned function is called. */
  intercept(fn: Interceptor): () => void;
  /** Adds a kind to the table of the running fake. */
  registerKind(kind: ResourceKind): void;
  /** Ends watches, closes connections and the server, removes the temp dir. */
  close(): Promise<void>;
}

const BASE_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

/** Starts a fake API on 127.0.0.1, port 0. */
export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const now = opts.now ?? ((): Date => new Date());
  const storage = new Storage(opts.historyLimit ?? 1000);
  // The token table checks that a ServiceAccount still exists; the registry is created right after.
  let registry: Registry | undefined;
  const tokens = new TokenAuthority(opts.apiAudiences ?? DEFAULT_API_AUDIENCES, (ns, name) =>
    registry?.get('serviceaccounts', ns, name),
  );
  registry = new Registry(storage, tokens, now, [...defaultKinds(), ...(opts.kinds ?? [])]);
  const store = registry;
  for (const ns of [...BASE_NAMESPACES, ...(opts.namespaces ?? [])]) {
    if (!store.get('namespaces', undefined, ns)) store.create('namespaces', { metadata: { name: ns } });
  }
  const adminToken = randomBytes(24).toString('base64url');
  tokens.addUser({ name: 'admin', token: adminToken, groups: ['system:masters'] });

  const ca = await DevCA.create('fake-kube CA');
  const leaf = await ca.issue({ commonName: 'kube-apiserver', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const authorizer = new Authorizer();
  const requests: RequestRecord[] = [];
  const interceptors = new Set<Interceptor>();
  const watches = new Set<() => void>();
  const waiters = new Set<(r: RequestRecord) => boolean>();
  const record = (r: RequestRecord): void => {
    requests.push(r);
    for (const w of [...waiters]) if (w(r)) waiters.delete(w);
  };
  let address = '';
  const server = https.createServer(
    { cert: leaf.cert, key: leaf.key },
    createHandler({
      registry: store,
      tokens,
      authorizer,
      now,
      serverAddress: () => address,
      record,
      interceptors: () => [...interceptors],
      watches,
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `https://${address}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-kube-'));
  let files = 0;
  const writeConfig = (name: string, token: string): string => {
    const file = path.join(dir, `kubeconfig-${++files}`);
    writeFileSync(file, kubeconfigYaml(url, ca.certPem, name, token), { mode: 0o600 });
    return file;
  };
  const tokenOf = (user: string): string => {
    const t = tokens.tokenOf(user);
    if (!t) throw new Error(`fake-kube: no user "${user}"; add it with addUser()`);
    return t;
  };
  let closed: Promise<void> | undefined;

  return {
    url,
    caPem: ca.certPem,
    kubeconfigPath: writeConfig('admin', adminToken),
    adminUser: 'admin',
    adminToken,
    store,
    requests,
    clearRequests: () => void requests.splice(0),
    nextRequest: (match) =>
      new Promise<RequestRecord>((resolve) => {
        waiters.add((r) => {
          if (!match(r)) return false;
          resolve(r);
          return true;
        });
      }),
    activeWatches: () => watches.size,
    kubeConfig: (user = 'admin') => loadedKubeConfig(url, ca.certPem, user, tokenOf(user)),
    kubeConfigForToken: (token) => loadedKubeConfig(url, ca.certPem, 'token-user', token),
    writeKubeconfig: (who) => (who.token ? writeConfig('token-user', who.token) : writeConfig(who.user ?? 'admin', tokenOf(who.user ?? 'admin'))),
    addUser: (u) => tokens.addUser(u),
    allow: (user, verbs, resources, namespaces) => {
      const rule: AccessRule = { verbs: list(verbs)!, resources: list(resources)! };
      const ns = list(namespaces);
      if (ns) rule.namespaces = ns;
      authorizer.allow(user, rule);
    },
    allowRule: (user, rule) => authorizer.allow(user, rule),
    issueToken: (namespace, serviceAccount, o = {}) => {
      const spec: Record<string, unknown> = {};
      if (o.audiences) spec.audiences = o.audiences;
      if (o.expirationSeconds !== undefined) spec.expirationSeconds = o.expirationSeconds;
      const answer = store.createSubresource('serviceaccounts', namespace, serviceAccount, 'token', { spec });
      return (answer.status as { token: string }).token;
    },
    revokeToken: (token) => tokens.revoke(token),
    intercept: (fn) => {
      interceptors.add(fn);
      return () => void interceptors.delete(fn);
    },
    registerKind: (kind) => store.register(kind),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        for (const end of [...watches]) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => rmSync(dir, { recursive: true, force: true }));
      return closed;
    },
  };
}
