/**
 * tkestack's ClusterCredential (`platform.tkestack.io/v1`, cluster-scoped)
 * in the meta cluster: the credential the platform uses to build a client
 * of a managed cluster. Found by its `clusterName` field with a field
 * selector, as tkestack's own code does; when the API refuses that field
 * selector (400, e.g. a CRD without selectableFields), by listing all and
 * filtering. Updated with a JSON patch that first tests `clusterName`, so
 * an object that changed hands in between is never written.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { KubeError } from './errors.js';
import { deadline, DEFAULT_REQUEST_TIMEOUT_MS, kubeCall } from './request.js';

/** Where ClusterCredentials are served. */
export const CLUSTER_CREDENTIAL_RESOURCE = { group: 'platform.tkestack.io', version: 'v1', plural: 'clustercredentials' } as const;

/** The fields of a ClusterCredential the tunnel reads. */
export interface ClusterCredentialRecord {
  name: string;
  clusterName: string;
  tenantID?: string;
  token?: string;
  /** `caCert` decoded (the API holds base64 of the PEM bundle). */
  caPem?: string;
  resourceVersion?: string;
}

/** The answer of findByClusterName. */
export interface ClusterCredentialLookup {
  items: ClusterCredentialRecord[];
  /** False when the API refused the field selector and everything was listed and filtered. */
  byFieldSelector: boolean;
}

/** What setToken writes. */
export interface ClusterCredentialUpdate {
  token: string;
  /** Written to `caCert` (base64) when given. */
  caPem?: string;
}

/** Options of createClusterCredentialClient. */
export interface ClusterCredentialClientOptions {
  /** Deadline of one request; default 10 s. */
  timeoutMs?: number;
  /** Page size of the fallback list; default 500. */
  pageSize?: number;
}

/** Reads and updates ClusterCredentials; everything rejects with KubeError. */
export interface ClusterCredentialClient {
  /** Every ClusterCredential whose `clusterName` is `clusterName`. */
  findByClusterName(clusterName: string): Promise<ClusterCredentialLookup>;
  /** Patches `token` (and `caCert`) of `name`, provided its clusterName is still `clusterName` (else 422 Invalid). */
  setToken(name: string, clusterName: string, update: ClusterCredentialUpdate): Promise<ClusterCredentialRecord>;
}

interface RawCredential {
  metadata?: { name?: string; resourceVersion?: string };
  clusterName?: string;
  tenantID?: string;
  token?: string;
  caCert?: string;
}

interface RawList {
  items?: RawCredential[];
  metadata?: { continue?: string };
}

function toRecord(o: RawCredential): ClusterCredentialRecord {
  const r: ClusterCredentialRecord = { name: o.metadata?.name ?? '', clusterName: o.clusterName ?? '' };
  if (o.tenantID) r.tenantID = o.tenantID;
  if (typeof o.token === 'string') r.token = o.token;
  if (typeof o.caCert === 'string') r.caPem = Buffer.from(o.caCert, 'base64').toString('utf8');
  if (o.metadata?.resourceVersion) r.resourceVersion = o.metadata.resourceVersion;
  return r;
}

/** The ClusterCredential client of the meta cluster. */
export function createClusterCredentialClient(kc: KubeConfig, opts: ClusterCredentialClientOptions = {}): ClusterCredentialClient {
  const api = kc.makeApiClient(CustomObjectsApi);
  const o = (): ReturnType<typeof deadline> => deadline(opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const pageSize = opts.pageSize ?? 500;
  const { group, version, plural } = CLUSTER_CREDENTIAL_RESOURCE;

  const listAll = async (clusterName: string): Promise<ClusterCredentialRecord[]> => {
    const out: ClusterCredentialRecord[] = [];
    let cont: string | undefined;
    do {
      const page = (await kubeCall('list ClusterCredentials', () =>
        api.listClusterCustomObject({ group, version, plural, limit: pageSize, ...(cont ? { _continue: cont } : {}) }, o()),
      )) as RawList;
      for (const item of page.items ?? []) if (item.clusterName === clusterName) out.push(toRecord(item));
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  };

  return {
    async findByClusterName(clusterName) {
      try {
        const list = (await kubeCall(`list ClusterCredentials with clusterName=${clusterName}`, () =>
          api.listClusterCustomObject({ group, version, plural, fieldSelector: `clusterName=${clusterName}` }, o()),
        )) as RawList;
        // A server that ignored the selector would hand back others' objects: filter anyway.
        return { items: (list.items ?? []).filter((i) => i.clusterName === clusterName).map(toRecord), byFieldSelector: true };
      } catch (err) {
        if (!(err instanceof KubeError) || err.status !== 400) throw err;
        return { items: await listAll(clusterName), byFieldSelector: false };
      }
    },
    async setToken(name, clusterName, update) {
      const body: object[] = [
        { op: 'test', path: '/clusterName', value: clusterName },
        { op: 'add', path: '/token', value: update.token },
      ];
      if (update.caPem !== undefined) body.push({ op: 'add', path: '/caCert', value: Buffer.from(update.caPem).toString('base64') });
      const out = (await kubeCall(`patch ClusterCredential ${name}`, () =>
        api.patchClusterCustomObject({ group, version, plural, name, body }, o()),
      )) as RawCredential;
      return toRecord(out);
    },
  };
}
