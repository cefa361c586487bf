/**
 * Pull mode on the wire (proto/tunnel/pull/v1/pull.proto): the gRPC service
 * definition with pass-through (de)serializers, like services.ts, the tiny
 * ListTargets codec, and the rules of a pull dial address. Both roles use
 * this file, so agent and server can never disagree on them.
 */
import type * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { bidi } from './services.js';

/** Fully qualified service name (the proto declares package tunnel.pull.v1). */
export const PULL_SERVICE = 'tunnel.pull.v1.PullService';
/** One stream per pulled connection. */
export const PULL_PATH = `/${PULL_SERVICE}/Pull`;
/** The names the caller may pull. */
export const LIST_TARGETS_PATH = `/${PULL_SERVICE}/ListTargets`;

const identity = (b: Buffer): Buffer => b;

/** PullService with pass-through Buffers: packets are decoded by GrpcPacketStream, names by decodeTargetNames. */
export const pullServiceDefinition = {
  Pull: bidi(PULL_PATH, 'pull'),
  ListTargets: {
    path: LIST_TARGETS_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'listTargets',
  },
} satisfies grpc.ServiceDefinition;

/** Longest target name (a DNS name). */
export const MAX_TARGET_NAME_LENGTH = 253;

const NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/**
 * Undefined when `name` can name a pull target, else why not. A name is a
 * lowercase DNS-style name (letters, digits, '-', '.'), and never an IP
 * address, so that it cannot be mistaken for a host to dial.
 */
export function targetNameProblem(name: string): string | undefined {
  if (name === '') return 'the name is empty';
  if (name.length > MAX_TARGET_NAME_LENGTH) return `the name is longer than ${MAX_TARGET_NAME_LENGTH} characters`;
  if (!NAME.test(name)) return 'a name has only lowercase letters, digits, "-" and ".", and starts and ends with a letter or digit';
  if (net.isIP(name) !== 0) return 'a name is not an IP address';
  return undefined;
}

/** A pull dial address, read: the target name, and the port when one was given (it is not used). */
export interface PullAddress {
  name: string;
  port?: number;
}

/**
 * Reads the address of a pull DIAL_REQ (or of an HTTP CONNECT at the agent):
 * `NAME` or `NAME:PORT`, case-insensitive. Anything else (an IPv6 literal, a
 * URL, an empty name, a bad port) is refused with the reason. Names are
 * returned in lowercase.
 */
export function parsePullAddress(address: string): PullAddress | { error: string } {
  const bad = (why: string): { error: string } => ({ error: `malformed pull address ${JSON.stringify(address)}: ${why}` });
  if (address.length > MAX_TARGET_NAME_LENGTH + 6) return bad('too long');
  if (address.startsWith('[')) return bad('a pull address is a target name, never an IP address');
  const colon = address.indexOf(':');
  let name = address;
  let port: number | undefined;
  if (colon >= 0) {
    const portText = address.slice(colon + 1);
    name = address.slice(0, colon);
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      return bad('expected NAME or NAME:PORT with a port in 1-65535');
    }
    port = Number(portText);
  }
  name = name.toLowerCase();
  const why = targetNameProblem(name);
  if (why) return bad(why);
  return port === undefined ? { name } : { name, port };
}

// ---- ListTargetsResponse { repeated string names = 1; } ----

/** Encodes a ListTargetsResponse. */
export function encodeTargetNames(names: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of names) {
    const bytes = Buffer.from(n, 'utf8');
    parts.push(Buffer.from([0x0a]), varint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a ListTargetsResponse, skipping unknown fields as protobuf
 * readers do. Throws an Error naming the problem for a malformed message.
 */
export function decodeTargetNames(buf: Buffer): string[] {
  const names: string[] = [];
  let off = 0;
  const readVarint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (off >= buf.length) throw new Error('truncated varint');
      const b = buf[off++]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  while (off < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 2) {
      const len = readVarint();
      if (off + len > buf.length) throw new Error('truncated field');
      if (field === 1) names.push(buf.subarray(off, off + len).toString('utf8'));
      off += len;
    } else if (wire === 0) {
      readVarint();
    } else if (wire === 1 || wire === 5) {
      off += wire === 1 ? 8 : 4;
      if (off > buf.length) throw new Error('truncated field');
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return names;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
