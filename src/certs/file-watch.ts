/**
 * Notices that files may have changed: fs.watch on their directories
 * (a Kubernetes Secret volume swaps its `..data` symlink, which is a rename
 * in the directory, not a change of the file) plus a periodic stat of each
 * file (following symlinks) for file systems where fs.watch is silent.
 * Bursts of events are debounced into one call.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { CertClock, TimerHandle } from './clock.js';

/** Options of FileChangeWatcher. */
export interface FileChangeWatcherOptions {
  files: string[];
  clock: CertClock;
  logger: Logger;
  debounceMs: number;
  pollIntervalMs: number;
  /** Use fs.watch on the directories besides polling. */
  fsWatch: boolean;
  /** Called (debounced) when the files may have changed. */
  onChange: () => void;
}

/** The stat facts of the watched files, as one comparable string. */
export type FilesSignature = string;

/** Watches a few files for changes. */
export class FileChangeWatcher {
  private readonly watchers: FSWatcher[] = [];
  private debounce: TimerHandle | undefined;
  private poll: TimerHandle | undefined;
  private seen: FilesSignature | undefined;
  private stopped = false;

  constructor(private readonly opts: FileChangeWatcherOptions) {}

  /** Starts fs.watch on each directory and the stat poll. */
  start(): void {
    const dirs = this.opts.fsWatch ? this.opts.files.map((f) => path.dirname(path.resolve(f))) : [];
    for (const dir of new Set(dirs)) {
      try {
        const w = watch(dir, { persistent: false }, () => this.trigger());
        w.on('error', (err) => {
          this.opts.logger.debug('fs.watch failed; relying on the stat poll', { dir, err: err.message });
          w.close();
        });
        this.watchers.push(w);
      } catch (err) {
        this.opts.logger.debug('fs.watch unavailable; relying on the stat poll', { dir, err: (err as Error).message });
      }
    }
    this.schedulePoll();
  }

  /** The current stat facts of the files (missing files included as such). */
  async signature(): Promise<FilesSignature> {
    const parts = await Promise.all(
      this.opts.files.map(async (f) => {
        try {
          const s = await stat(f);
          return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      }),
    );
    return parts.join('|');
  }

  /** Records what was read, so the poll reports only later changes. */
  markSeen(sig: FilesSignature): void {
    this.seen = sig;
  }

  /** Stops watching. */
  stop(): void {
    this.stopped = true;
    for (const w of this.watchers.splice(0)) w.close();
    if (this.debounce !== undefined) this.opts.clock.clearTimeout(this.debounce);
    if (this.poll !== undefined) this.opts.clock.clearTimeout(this.poll);
    this.debounce = undefined;
    this.poll = undefined;
  }

  private trigger(): void {
    if (this.stopped) return;
    if (this.debounce !== undefined) this.opts.clock.clearTimeout(this.debounce);
    this.debounce = this.opts.clock.setTimeout(() => {
      this.debounce = undefined;
      if (!this.stopped) this.opts.onChange();
    }, this.opts.debounceMs);
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.poll = this.opts.clock.setTimeout(() => {
      void this.signature().then((sig) => {
        if (this.stopped) return;
        if (this.seen !== undefined && sig !== this.seen) this.trigger();
        this.schedulePoll();
      });
    }, this.opts.pollIntervalMs);
  }
}
