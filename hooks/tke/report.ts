/**
 * Writes the credential as Secret `<cluster-name>-credential` (keys token,
 * ca.crt, server; label tunnel.tkestack.io/cluster-name) in the meta
 * cluster: create; when it exists, read and update; when the update meets
 * a newer version, read again and retry, a few times.
 */
import type { ManagedCredential } from '../../src/hooks/credential/index.js';
import { CLUSTER_NAME_LABEL, HookError, SECRET_UPDATE_ATTEMPTS } from '../../src/hooks/index.js';
import { isAlreadyExists, isConflict, isNotFound, type SecretRecord, type SecretStore } from '../../src/kube/index.js';

/** Where the Secret goes and the address stored with it. */
export interface CredentialSecretTarget {
  namespace: string;
  clusterName: string;
  /** The managed apiserver as the meta cluster reaches it through the tunnel. */
  server: string;
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** The Secret's name, or ERR_HOOK_OPTIONS when the cluster name cannot make one. */
export function credentialSecretName(clusterName: string): string {
  const name = `${clusterName}-credential`;
  if (name.length > 253 || !SUBDOMAIN.test(name) || clusterName.length > 63 || !LABEL_VALUE.test(clusterName)) {
    throw new HookError('ERR_HOOK_OPTIONS', `cluster name "${clusterName}" (--cluster-name) cannot name a Secret: it must be a lower-case DNS label`);
  }
  return name;
}

function sameContent(a: SecretRecord, b: SecretRecord): boolean {
  const keys = Object.keys(b.data);
  return keys.every((k) => a.data[k]?.equals(b.data[k]!) === true) && a.labels?.[CLUSTER_NAME_LABEL] === b.labels?.[CLUSTER_NAME_LABEL];
}

/** Creates or updates the Secret; resolves with what it did, for logs. */
export async function upsertCredentialSecret(store: SecretStore, target: CredentialSecretTarget, cred: ManagedCredential): Promise<string> {
  const name = credentialSecretName(target.clusterName);
  const ref = `Secret ${target.namespace}/${name}`;
  const desired: SecretRecord = {
    namespace: target.namespace,
    name,
    type: 'Opaque',
    labels: { [CLUSTER_NAME_LABEL]: target.clusterName },
    data: { token: Buffer.from(cred.token), 'ca.crt': Buffer.from(cred.caPem), server: Buffer.from(target.server) },
  };
  let create = true;
  for (let attempt = 1; attempt <= SECRET_UPDATE_ATTEMPTS; attempt++) {
    if (create) {
      try {
        await store.create(desired);
        return `${ref} (created)`;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    const current = await store.get(target.namespace, name);
    if (!current) {
      create = true;
      continue;
    }
    if (sameContent(current, desired)) return `${ref} (unchanged)`;
    try {
      await store.update({
        ...current,
        labels: { ...current.labels, ...desired.labels },
        data: { ...current.data, ...desired.data },
      });
      return `${ref} (updated)`;
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
      create = isNotFound(err);
    }
  }
  throw new HookError('ERR_HOOK_CREDENTIAL', `${ref} kept changing while it was being updated; gave up after ${SECRET_UPDATE_ATTEMPTS} attempts`);
}
