import { randomBytes } from 'node:crypto';

const MASK_63 = (1n << 63n) - 1n;

/** A non-zero 63-bit dial id, as upstream Go clients draw them. */
export function randomDialID(): bigint {
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE() & MASK_63;
    if (v !== 0n) return v;
  }
}

/** A source of dial ids; injected so tests can make them predictable. */
export type DialIDSource = () => bigint;
