/**
 * The `files` source: the certificate, key and CA files of the upstream
 * flags (`--cluster-cert`/`--cluster-key`/`--cluster-ca-cert`,
 * `--agent-cert`/`--agent-key`/`--ca-cert`, ...), re-read when they change.
 *
 * A reload that finds a half-written file, a key that does not match the
 * certificate, or a missing file is logged and ignored: the old bundle stays
 * in use (never an outage), and the next change of the files is picked up.
 * Only the first read must succeed.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';
import { makeBundle, sameBundle, type CertificateBundle } from './bundle.js';
import { systemClock, type CertClock } from './clock.js';
import { CertError, errorMessage } from './errors.js';
import { FileChangeWatcher } from './file-watch.js';
import { ListenerSet } from './listeners.js';
import type { CertificateListener, CertificateSource } from './source.js';
import { FILE_POLL_INTERVAL_MS, FILE_RELOAD_DEBOUNCE_MS } from './timing.js';

/** Options of openFileSource. */
export interface FileSourceOptions {
  /** Certificate file (leaf, optionally followed by its chain). */
  certFile: string;
  /** Private key file. */
  keyFile: string;
  /** CA bundle that verifies peers; unset = none (system roots apply where relevant). */
  caFile?: string;
  logger: Logger;
  clock?: CertClock;
  /** Quiet time after the last file event before re-reading; default 200 ms. */
  debounceMs?: number;
  /** Period of the stat fallback; default 10 s. */
  pollIntervalMs?: number;
  /** Use fs.watch besides the stat poll (default true; false for file systems where it misbehaves). */
  fsWatch?: boolean;
}

/** Reads the files once (throws CertError ERR_CERT_INVALID when they are not a valid bundle), then follows them. */
export async function openFileSource(opts: FileSourceOptions): Promise<FileCertificateSource> {
  const src = new FileCertificateSource(opts);
  await src.init();
  return src;
}

/** A certificate source backed by files. */
export class FileCertificateSource implements CertificateSource {
  private bundle: CertificateBundle | undefined;
  private readonly listeners: ListenerSet;
  private readonly watcher: FileChangeWatcher;
  private reloading: Promise<boolean> | undefined;
  private again = false;
  private closed = false;
  private lastFailure: string | undefined;

  constructor(private readonly opts: FileSourceOptions) {
    this.listeners = new ListenerSet(opts.logger);
    this.watcher = new FileChangeWatcher({
      files: this.files(),
      clock: opts.clock ?? systemClock,
      logger: opts.logger,
      debounceMs: opts.debounceMs ?? FILE_RELOAD_DEBOUNCE_MS,
      pollIntervalMs: opts.pollIntervalMs ?? FILE_POLL_INTERVAL_MS,
      fsWatch: opts.fsWatch ?? true,
      onChange: () => void this.reload(),
    });
  }

  /** First read; starts watching. */
  async init(): Promise<void> {
    const sig = await this.watcher.signature();
    this.bundle = await this.read();
    this.watcher.markSeen(sig);
    this.watcher.start();
  }

  /** The bundle in use now. */
  current(): CertificateBundle {
    if (!this.bundle) throw new CertError('ERR_CERT_INVALID', `${this.describe()}: not loaded`);
    return this.bundle;
  }

  /** See CertificateSource.onChange. */
  onChange(listener: CertificateListener): () => void {
    return this.listeners.add(listener);
  }

  /** Why the last reload was refused, or undefined when it succeeded. */
  lastError(): string | undefined {
    return this.lastFailure;
  }

  /**
   * Re-reads the files now (also what file events trigger). Resolves true
   * when a new bundle was taken, false when nothing changed or the files
   * were refused (logged; the old bundle stays).
   */
  reload(): Promise<boolean> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    const run = async (): Promise<boolean> => {
      let changed = false;
      do {
        this.again = false;
        changed = (await this.reloadOnce()) || changed;
      } while (this.again && !this.closed);
      return changed;
    };
    this.reloading = run().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher.stop();
    this.listeners.clear();
    await this.reloading;
  }

  private async reloadOnce(): Promise<boolean> {
    if (this.closed) return false;
    const sig = await this.watcher.signature();
    let next: CertificateBundle;
    try {
      next = await this.read();
    } catch (err) {
      this.watcher.markSeen(sig);
      this.lastFailure = errorMessage(err);
      this.opts.logger.warn('certificate files changed but cannot be used; keeping the current certificate', {
        err: this.lastFailure,
        serial: this.bundle?.serialNumber,
      });
      return false;
    }
    this.watcher.markSeen(sig);
    this.lastFailure = undefined;
    if (this.closed || sameBundle(next, this.bundle)) return false;
    const old = this.bundle;
    this.bundle = next;
    this.opts.logger.info('certificate reloaded from files', {
      files: this.describe(),
      serial: next.serialNumber,
      previousSerial: old?.serialNumber,
      notAfter: next.notAfter.toISOString(),
    });
    this.listeners.emit(next);
    return true;
  }

  private async read(): Promise<CertificateBundle> {
    const what = this.describe();
    const load = async (file: string): Promise<string> => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        throw new CertError('ERR_CERT_INVALID', `${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`, {
          cause: err,
        });
      }
    };
    const [certPem, keyPem, caPem] = await Promise.all([
      load(this.opts.certFile),
      load(this.opts.keyFile),
      this.opts.caFile ? load(this.opts.caFile) : Promise.resolve(''),
    ]);
    return makeBundle({ certPem, keyPem, caPem }, what);
  }

  private files(): string[] {
    return [this.opts.certFile, this.opts.keyFile, ...(this.opts.caFile ? [this.opts.caFile] : [])];
  }

  private describe(): string {
    return `certificate files ${this.files().join(', ')}`;
  }
}
