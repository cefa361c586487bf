/**
 * Per-connection flow control on the wire (proto/tunnel/v1/flow.proto): the
 * metadata of the negotiation, the FlowService definition with pass-through
 * (de)serializers, and the codec of a batch of grants. Both roles use this
 * file, so server and agent can never disagree on it.
 */
import type * as grpc from '@grpc/grpc-js';
import { bidi } from './services.js';

/** Fully qualified service name (package tunnel.v1). */
export const FLOW_SERVICE = 'tunnel.v1.FlowService';
/** One Credits stream per flow-controlled Connect stream. */
export const CREDITS_PATH = `/${FLOW_SERVICE}/Credits`;
/** Server→agent packets of a flow-controlled Connect stream, on a connection of their own (flow.proto, step 4). */
export const DOWNLINK_PATH = `/${FLOW_SERVICE}/Downlink`;

/** Metadata keys of the negotiation (lowercase on the wire). */
export const FLOW_MD = {
  /** Agent request and server response: the flow-control scheme. */
  control: 'tunnel-flow-control',
  /** Agent request and server response: the sender's receive window per connection, decimal bytes. */
  window: 'tunnel-flow-window',
  /** Server response, then the agent's Credits and Downlink requests: names the Connect stream. */
  stream: 'tunnel-flow-stream',
  /** Agent request and server response: `1` when the side supports the Downlink stream. */
  downlink: 'tunnel-flow-downlink',
} as const;

/** The one scheme this version speaks. */
export const FLOW_SCHEME = 'credits-v1';

/** Smallest and largest receive window a peer may announce. */
export const MIN_FLOW_WINDOW = 16 * 1024;
export const MAX_FLOW_WINDOW = 64 * 1024 * 1024;

/** FlowService with pass-through Buffers: batches are decoded by decodeCredits. */
export const flowServiceDefinition = {
  Credits: bidi(CREDITS_PATH, 'credits'),
  Downlink: bidi(DOWNLINK_PATH, 'downlink'),
} satisfies grpc.ServiceDefinition;

/** More credit for one connection. */
export interface Grant {
  connectID: bigint;
  /** 1 to 2^32 - 1. */
  bytes: number;
}

/** One CreditsRequest/CreditsResponse: grants for the peer's DATA, and connections our DATA waits on credit for. */
export interface CreditBatch {
  grants: Grant[];
  /** connectIDs whose DATA from us has run out of the peer's credit (field 2). */
  blocked: bigint[];
}

/** A batch that is not a valid CreditsRequest/CreditsResponse. */
export class FlowWireError extends Error {
  readonly code = 'ERR_FLOW_WIRE';
  constructor(message: string) {
    super(message);
    this.name = 'FlowWireError';
  }
}

/**
 * The window a peer announced in `value` (one metadata value), or undefined
 * when it is missing or not a whole number within MIN_FLOW_WINDOW..MAX_FLOW_WINDOW.
 */
export function parseWindow(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,9}$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return n >= MIN_FLOW_WINDOW && n <= MAX_FLOW_WINDOW ? n : undefined;
}

// ---------------------------------------------------------------- encode

function varintSize(v: bigint): number {
  let n = 1;
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}

function smallVarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function varint64(out: Buffer, pos: number, v: bigint): number {
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    out[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  out[pos++] = Number(u);
  return pos;
}

/**
 * Encodes a CreditsRequest/CreditsResponse: field 1, repeated Grant; field 2,
 * the blocked connectIDs, packed (proto3's encoding of a repeated int64).
 */
export function encodeGrants(grants: readonly Grant[], blocked: readonly bigint[] = []): Buffer {
  let total = 0;
  let blockedBody = 0;
  for (const id of blocked) blockedBody += varintSize(id);
  if (blockedBody > 0) total += 1 + smallVarintSize(blockedBody) + blockedBody;
  const sizes: number[] = [];
  for (const g of grants) {
    const body = (g.connectID === 0n ? 0 : 1 + varintSize(g.connectID)) + (g.bytes === 0 ? 0 : 1 + smallVarintSize(g.bytes));
    sizes.push(body);
    total += 1 + smallVarintSize(body) + body;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  const small = (v: number): void => {
    while (v >= 0x80) {
      out[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
  };
  grants.forEach((g, i) => {
    out[pos++] = 0x0a; // field 1, length-delimited
    small(sizes[i]!);
    if (g.connectID !== 0n) {
      out[pos++] = 0x08; // field 1, varint
      pos = varint64(out, pos, g.connectID);
    }
    if (g.bytes !== 0) {
      out[pos++] = 0x10; // field 2, varint
      small(g.bytes);
    }
  });
  if (blockedBody > 0) {
    out[pos++] = 0x12; // field 2, length-delimited (packed)
    small(blockedBody);
    for (const id of blocked) pos = varint64(out, pos, id);
  }
  return out;
}

// ---------------------------------------------------------------- decode

class Reader {
  pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new FlowWireError('truncated varint');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
    throw new FlowWireError('varint longer than 10 bytes');
  }

  length(): number {
    const len = this.varint();
    if (len > BigInt(this.end - this.pos)) throw new FlowWireError('length past the end of the message');
    return Number(len);
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 2) {
      // Not `this.pos += this.length()`: that reads pos before length() moves it past the prefix.
      const len = this.length();
      this.pos += len;
    }
    else if (wireType === 1 || wireType === 5) {
      const n = wireType === 1 ? 8 : 4;
      if (this.end - this.pos < n) throw new FlowWireError('truncated fixed field');
      this.pos += n;
    } else throw new FlowWireError(`unsupported wire type ${wireType}`);
  }
}

/** Decodes a CreditsRequest/CreditsResponse. Unknown fields are skipped; grants of 0 bytes dropped. */
export function decodeCredits(buf: Uint8Array): CreditBatch {
  const grants: Grant[] = [];
  const blocked: bigint[] = [];
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = Number(r.varint());
    if (tag === 0x0a) {
      const len = r.length();
      const g = new Reader(buf, r.pos, r.pos + len);
      r.pos += len;
      let connectID = 0n;
      let bytes = 0n;
      while (g.pos < g.end) {
        const t = Number(g.varint());
        if (t === 0x08) connectID = BigInt.asIntN(64, g.varint());
        else if (t === 0x10) bytes = BigInt.asUintN(32, g.varint());
        else g.skip(t & 7);
      }
      if (bytes > 0n) grants.push({ connectID, bytes: Number(bytes) });
    } else if (tag === 0x12) {
      // Packed, as proto3 writes it.
      const len = r.length();
      const p = new Reader(buf, r.pos, r.pos + len);
      r.pos += len;
      while (p.pos < p.end) blocked.push(BigInt.asIntN(64, p.varint()));
    } else if (tag === 0x10) {
      // One value unpacked: parsers must take both forms.
      blocked.push(BigInt.asIntN(64, r.varint()));
    } else {
      r.skip(tag & 7);
    }
  }
  return { grants, blocked };
}

/** The grants of a CreditsRequest/CreditsResponse (see decodeCredits). */
export function decodeGrants(buf: Uint8Array): Grant[] {
  return decodeCredits(buf).grants;
}
