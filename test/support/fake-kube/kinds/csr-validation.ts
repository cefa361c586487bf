/**
 * The API server's checks of a CertificateSigningRequest
 * (pkg/apis/certificates/validation): a PKCS#10 request in PEM, a signer
 * name, known and distinct usages, expirationSeconds of at least 600,
 * well-formed conditions (no duplicate types, Approved and Denied never
 * together, approval conditions never removed), and a certificate only on
 * an approved request, never changed once set.
 */
import { createHash } from 'node:crypto';
import { parseCsrDer } from '../../../../src/certs/csr-request.js';
import { pemBlocks, type PemBlock } from '../../../../src/certs/pem.js';
import type { Cause, KubeObject, StoredObject } from '../types.js';
import { forbiddenField, invalidValue, required } from '../validation.js';

const SIGNER_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

/** Every usage the API accepts (certificates/v1 KeyUsage). */
export const KNOWN_USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
];

/** A condition as stored. */
export interface CsrConditionJson {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
  lastUpdateTime?: unknown;
  lastTransitionTime?: unknown;
}

const APPROVAL = new Set(['Approved', 'Denied']);

/** The conditions of an object's status (empty when missing). */
export function conditionsOf(obj: KubeObject | undefined): CsrConditionJson[] {
  const c = (obj?.status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(c) ? (c as CsrConditionJson[]) : [];
}

/** The PEM text of a base64 `[]byte` field (the body was already checked to be base64). */
function bytes(v: unknown): string {
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '';
}

/** How the API prints a []byte value in a message: a digest, never the data. */
function elided(what: string, v: string): string {
  return `<${what} ${createHash('sha256').update(v).digest('hex').slice(0, 12)}>`;
}

function checkRequest(spec: Record<string, unknown>): Cause[] {
  if (spec.request === undefined || spec.request === '') return [required('spec.request')];
  const pem = bytes(spec.request);
  let blocks: PemBlock[];
  try {
    blocks = pemBlocks(pem, 'request');
  } catch {
    blocks = [];
  }
  const block = blocks.find((b) => b.type === 'CERTIFICATE REQUEST');
  if (!block) return [invalidValue('spec.request', elided('request', pem), 'PEM block type must be CERTIFICATE REQUEST')];
  try {
    const csr = parseCsrDer(block.der);
    if (!csr.signatureValid) return [invalidValue('spec.request', elided('request', pem), 'x509: ECDSA verification failure')];
  } catch {
    return [invalidValue('spec.request', elided('request', pem), 'x509: malformed certificate request')];
  }
  return [];
}

function checkSignerName(spec: Record<string, unknown>): Cause[] {
  const name = spec.signerName;
  if (typeof name !== 'string' || name === '') return [required('spec.signerName')];
  if (!SIGNER_RE.test(name) || name.length > 571) {
    return [invalidValue('spec.signerName', name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")];
  }
  return [];
}

function checkUsages(spec: Record<string, unknown>): Cause[] {
  const usages = spec.usages;
  if (!Array.isArray(usages) || usages.length === 0) return [required('spec.usages', 'usages must be provided')];
  const out: Cause[] = [];
  const seen = new Set<unknown>();
  usages.forEach((u, i) => {
    if (typeof u !== 'string' || !KNOWN_USAGES.includes(u)) {
      out.push({
        field: `spec.usages[${i}]`,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(u)}: supported values: ${KNOWN_USAGES.map((k) => JSON.stringify(k)).join(', ')}`,
      });
    } else if (seen.has(u)) {
      out.push({ field: `spec.usages[${i}]`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(u)}` });
    }
    seen.add(u);
  });
  return out;
}

function checkExpiration(spec: Record<string, unknown>): Cause[] {
  const e = spec.expirationSeconds;
  if (e === undefined || e === null) return [];
  if (typeof e !== 'number' || !Number.isInteger(e)) return [invalidValue('spec.expirationSeconds', e, 'must be an integer')];
  if (e < 600) return [invalidValue('spec.expirationSeconds', e, 'may not specify a duration less than 600 seconds (10 minutes)')];
  return [];
}

/** Checks of the spec (on create; the spec never changes afterwards). */
export function validateSpec(obj: KubeObject): Cause[] {
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  return [...checkRequest(spec), ...checkSignerName(spec), ...checkUsages(spec), ...checkExpiration(spec)];
}

/** Checks of status.conditions, and of their changes against `old`. */
export function validateConditions(obj: KubeObject, old: StoredObject | undefined): Cause[] {
  const out: Cause[] = [];
  const conds = conditionsOf(obj);
  const types = new Set<string>();
  conds.forEach((c, i) => {
    const f = `status.conditions[${i}]`;
    if (typeof c.type !== 'string' || c.type === '') {
      out.push(required(`${f}.type`));
      return;
    }
    if (types.has(c.type)) out.push({ field: `${f}.type`, reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(c.type)}` });
    types.add(c.type);
    const allowed = APPROVAL.has(c.type) || c.type === 'Failed' ? ['True'] : ['True', 'False', 'Unknown'];
    if (!allowed.includes(c.status as string)) {
      out.push({
        field: `${f}.status`,
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(c.status ?? '')}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
      });
    }
  });
  if (types.has('Approved') && types.has('Denied')) {
    out.push(invalidValue('status.conditions', 'Approved', 'Approved and Denied conditions are mutually exclusive'));
  }
  for (const c of conditionsOf(old)) {
    if (typeof c.type === 'string' && APPROVAL.has(c.type) && !types.has(c.type)) {
      out.push(forbiddenField('status.conditions', `updates may not remove a condition of type ${JSON.stringify(c.type)}`));
    }
  }
  return out;
}

/** Checks of status.certificate: PEM certificates only, only once approved, never changed once set. */
export function validateCertificate(obj: KubeObject, old: StoredObject | undefined): Cause[] {
  const raw = (obj.status as { certificate?: unknown } | undefined)?.certificate;
  const before = (old?.status as { certificate?: unknown } | undefined)?.certificate;
  if (raw === undefined || raw === null || raw === '') {
    return before ? [forbiddenField('status.certificate', 'updates may not remove the certificate')] : [];
  }
  if (before !== undefined && before !== raw) {
    return [forbiddenField('status.certificate', 'updates may not modify existing certificate content')];
  }
  const pem = bytes(raw);
  let ok = false;
  try {
    const blocks = pemBlocks(pem, 'certificate');
    ok = blocks.length > 0 && blocks.every((b) => b.type === 'CERTIFICATE');
  } catch {
    ok = false;
  }
  if (!ok) return [invalidValue('status.certificate', elided('certificate', pem), 'must contain at least one CERTIFICATE PEM block and nothing else')];
  if (!conditionsOf(obj).some((c) => c.type === 'Approved')) {
    return [forbiddenField('status.certificate', 'may only be set once the request has the Approved condition')];
  }
  return [];
}
