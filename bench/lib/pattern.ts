/**
 * The byte pattern every benchmark sends: a fixed 64 KiB block of random bytes
 * repeated. Receivers check every byte against it at the right offset, so a
 * lost, duplicated or reordered byte fails the run.
 */
import { randomBytes } from 'node:crypto';

export const BLOCK = 64 * 1024;
let block: Buffer | undefined;

/** The shared pattern block; the seed is fixed per process pair by passing it to children. */
export function patternBlock(seedHex?: string): Buffer {
  if (!block) block = seedHex ? expand(Buffer.from(seedHex, 'hex')) : randomBytes(BLOCK);
  return block;
}

function expand(seed: Buffer): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0; i < BLOCK; i += seed.length) seed.copy(out, i);
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
