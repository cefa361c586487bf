/**
 * The byte pattern every benchmark sends: a fixed 64 KiB block of random bytes
 * repeated. Receivers check every byte against it at the right offset, so a
 * lost, duplicated or reordered byte fails the run.
 */
import { createHash, randomBytes } from 'node:crypto';

export const BLOCK = 64 * 1024;
const blocks = new Map<string, Buffer>();

/** The pattern block of a seed (random without one); the seed is passed to the children so both ends agree. */
export function patternBlock(seedHex?: string): Buffer {
  if (!seedHex) return randomBytes(BLOCK);
  let b = blocks.get(seedHex);
  if (!b) blocks.set(seedHex, (b = expand(Buffer.from(seedHex, 'hex'))));
  return b;
}

/**
 * 64 KiB of pseudo-random bytes from the seed (SHA-256 in counter mode), so
 * the pattern only repeats every 64 KiB: a reordered or lost chunk smaller
 * than that lands on the wrong bytes (a short seed repeated would repeat
 * every few bytes and hide them).
 */
function expand(seed: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  const ctr = Buffer.alloc(4);
  for (let i = 0, k = 0; i < BLOCK; i += 32, k++) {
    ctr.writeUInt32BE(k);
    createHash('sha256').update(seed).update(ctr).digest().copy(out, i);
  }
  return out;
}

/** Checks a received chunk against the pattern at absolute stream offset `offset`. */
export class PatternChecker {
  offset = 0;
  constructor(private readonly block: Buffer) {}

  check(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const at = this.offset % BLOCK;
      const n = Math.min(BLOCK - at, chunk.length - pos);
      if (chunk.compare(this.block, at, at + n, pos, pos + n) !== 0) {
        throw new Error(`byte mismatch in stream at offset ${this.offset}`);
      }
      pos += n;
      this.offset += n;
    }
  }
}
