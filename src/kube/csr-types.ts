/**
 * certificates.k8s.io/v1 CertificateSigningRequests as the tunnel sees
 * them: PEM text instead of base64 bytes, Dates instead of strings, and
 * the small CsrClient interface the certificate layer depends on.
 */

/** A status condition of a CSR. */
export interface CsrCondition {
  /** Approved, Denied, Failed (or another type a controller set). */
  type: string;
  /** 'True' for Approved, Denied and Failed. */
  status: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: Date;
  lastTransitionTime?: Date;
}

/** A CSR. */
export interface CsrRecord {
  name: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  signerName: string;
  /** The PKCS#10 request (PEM text). */
  request: string;
  usages: string[];
  expirationSeconds?: number;
  /** Who created it, as the API recorded it. */
  username?: string;
  requesterUid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
  conditions: CsrCondition[];
  /** The issued certificate (PEM text), once the signer wrote it. */
  certificate?: string;
}

/** What to create. */
export interface CsrCreate {
  /** A fixed name, or a prefix the API completes (generateName). */
  name?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  signerName: string;
  /** PEM `CERTIFICATE REQUEST`. */
  request: string;
  usages: string[];
  expirationSeconds?: number;
}

/** A watch event. */
export interface CsrEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  csr: CsrRecord;
}

/** A CSR list and the resourceVersion to watch from. */
export interface CsrList {
  items: CsrRecord[];
  resourceVersion: string;
}

/** A running watch. */
export interface CsrWatch {
  /** Ends the watch; `onEnd` is called with no error. */
  stop(): void;
}

/** Options of CsrClient.watch. */
export interface CsrWatchOptions {
  /** Events after this version; unset = the current objects as ADDED first. */
  resourceVersion?: string;
  /** e.g. `metadata.name=x` or `spec.signerName=example.com/s`. */
  fieldSelector?: string;
  /** Server-side end of the watch after this many seconds. */
  timeoutSeconds?: number;
  onEvent(event: CsrEvent): void;
  /**
   * Called once when the watch ends: no error for a normal end or stop(),
   * a KubeError for a failure (status 410 reason Expired: re-list).
   */
  onEnd(err?: Error): void;
}

/** The CSR operations of the tunnel; every method rejects with KubeError. */
export interface CsrClient {
  create(csr: CsrCreate): Promise<CsrRecord>;
  /** The CSR, or undefined when it does not exist. */
  get(name: string): Promise<CsrRecord | undefined>;
  list(opts?: { fieldSelector?: string }): Promise<CsrList>;
  watch(opts: CsrWatchOptions): Promise<CsrWatch>;
  /**
   * Adds an Approved or Denied condition through `/approval`, at the
   * CSR's resourceVersion (KubeError reason Conflict when it changed).
   */
  setApproval(csr: CsrRecord, condition: { type: 'Approved' | 'Denied'; reason: string; message: string }): Promise<CsrRecord>;
  /** Writes status.certificate through `/status`, at the CSR's resourceVersion. */
  setCertificate(csr: CsrRecord, certificatePem: string): Promise<CsrRecord>;
  /** Adds a Failed condition through `/status`, at the CSR's resourceVersion. */
  setFailed(csr: CsrRecord, reason: string, message: string): Promise<CsrRecord>;
  /** Deletes it; false when it did not exist. */
  delete(name: string): Promise<boolean>;
}
