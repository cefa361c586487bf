/**
 * tkestack's platform.tkestack.io/v1 ClusterCredential: cluster-scoped,
 * fields at the top level (no spec), `clusterName` required and immutable,
 * byte fields (`caCert`, `clientCert`, ...) as base64, and `clusterName`
 * and `tenantID` selectable with fieldSelector as tkestack's own API server
 * serves them. `clusterCredentialKindWithoutFieldSelectors` serves the same
 * kind as a CRD without selectableFields does: a fieldSelector on
 * clusterName is a 400.
 */
import type { Cause, KubeObject, ResourceKind, StoredObject } from '../types.js';
import { forbiddenField, invalidValue, required } from '../validation.js';

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BYTE_FIELDS = ['caCert', 'caKey', 'clientCert', 'clientKey', 'etcdCACert', 'etcdCAKey', 'etcdAPIClientCert', 'etcdAPIClientKey'];

function validate(obj: KubeObject, old: StoredObject | undefined): Cause[] {
  const out: Cause[] = [];
  if (typeof obj.clusterName !== 'string' || obj.clusterName === '') out.push(required('clusterName'));
  else if (old && obj.clusterName !== old.clusterName) out.push(forbiddenField('clusterName', 'field is immutable'));
  if (obj.token !== undefined && obj.token !== null && typeof obj.token !== 'string') out.push(invalidValue('token', obj.token, 'must be a string'));
  for (const f of BYTE_FIELDS) {
    const v = obj[f];
    if (v !== undefined && v !== null && (typeof v !== 'string' || !BASE64_RE.test(v))) {
      out.push(invalidValue(f, v, 'must be base64-encoded bytes'));
    }
  }
  return out;
}

/** The ClusterCredential kind, with the field selectors of tkestack's API server. */
export const clusterCredentialKind: ResourceKind = {
  group: 'platform.tkestack.io',
  version: 'v1',
  plural: 'clustercredentials',
  singular: 'clustercredential',
  kind: 'ClusterCredential',
  namespaced: false,
  shortNames: ['cc'],
  validate,
  selectableFields: {
    clusterName: (o) => o.clusterName as string | undefined,
    tenantID: (o) => o.tenantID as string | undefined,
  },
};

/** The same kind served without custom field selectors (a fieldSelector on clusterName is refused with 400). */
export const clusterCredentialKindWithoutFieldSelectors: ResourceKind = { ...clusterCredentialKind, selectableFields: {} };
