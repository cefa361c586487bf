/**
 * Atomic file replacement: write a temp file in the same directory with the
 * final mode, fsync it, rename it over the target. A reader sees the old
 * content or the new, never half of it.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Replaces `file` with `data`, created with `mode` (e.g. 0o600 for keys). */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
