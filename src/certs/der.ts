/**
 * Just enough DER reading to find the signed part of a PKCS#10 request
 * (the exact bytes that were signed, which re-encoding might not
 * reproduce) and its signature.
 */

/** One TLV element: tag, header length and content bounds within the input. */
interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error('DER: truncated');
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > buf.length) throw new Error('DER: truncated');
  return { tag, start: at, contentStart: p, end: p + len };
}

/** The three parts of a signed SEQUENCE { tbs, algorithm, BIT STRING signature }. */
export interface SignedParts {
  /** The DER bytes that were signed. */
  tbs: Buffer;
  /** The signature bytes (BIT STRING content without the unused-bits byte). */
  signature: Buffer;
}

/** Splits a signed structure (certificate, CSR); throws on malformed DER. */
export function signedParts(der: Buffer): SignedParts {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('DER: not a single SEQUENCE');
  const tbs = readTlv(der, outer.contentStart);
  const alg = readTlv(der, tbs.end);
  const sig = readTlv(der, alg.end);
  if (tbs.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03 || sig.end !== outer.end) throw new Error('DER: unexpected structure');
  return { tbs: der.subarray(tbs.start, tbs.end), signature: der.subarray(sig.contentStart + 1, sig.end) };
}
