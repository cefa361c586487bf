/**
 * Where a CSR manager keeps its key and certificate: `<name>.key` (0600)
 * and `<name>.crt` in the cert directory (0700), each written atomically.
 * The key is written before the certificate, so a crash in between leaves
 * a pair that does not match, which load() reports (and the manager
 * replaces) rather than uses.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { makeBundle, type CertificateBundle } from './bundle.js';
import { errorMessage } from './errors.js';

/** What load() found. */
export type StoredState =
  | { state: 'absent' }
  | { state: 'invalid'; reason: string }
  | { state: 'present'; bundle: CertificateBundle };

/** The files of one identity. */
export class CertStore {
  /** Path of the certificate file. */
  readonly certFile: string;
  /** Path of the key file. */
  readonly keyFile: string;

  constructor(
    private readonly dir: string,
    name: string,
  ) {
    this.certFile = path.join(dir, `${name}.crt`);
    this.keyFile = path.join(dir, `${name}.key`);
  }

  /** Creates the directory (0700) when missing. */
  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Reads and checks the stored pair (with `caPem` as its CA bundle). */
  async load(caPem: string): Promise<StoredState> {
    const read = async (f: string): Promise<string | undefined> => {
      try {
        return await readFile(f, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    };
    const [certPem, keyPem] = await Promise.all([read(this.certFile), read(this.keyFile)]);
    if (certPem === undefined && keyPem === undefined) return { state: 'absent' };
    if (certPem === undefined || keyPem === undefined) {
      return { state: 'invalid', reason: `${certPem === undefined ? this.certFile : this.keyFile} is missing` };
    }
    try {
      return { state: 'present', bundle: makeBundle({ certPem, keyPem, caPem }, `stored certificate ${this.certFile}`) };
    } catch (err) {
      return { state: 'invalid', reason: errorMessage(err) };
    }
  }

  /** Stores a new pair: key first (0600), then certificate (0644). */
  async save(certPem: string, keyPem: string): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.keyFile, keyPem, 0o600);
    await writeFileAtomic(this.certFile, certPem, 0o644);
  }
}
