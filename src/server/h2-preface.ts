/**
 * Picks how a Unix-socket gRPC client is handed to Node's HTTP/2 server:
 * the socket itself ("native", Node's HTTP/2 then runs in C++ on it), or
 * through the AuthorityFilter (h2-authority.ts, for old grpc-go clients that
 * send the socket path as `:authority`). The filter works on a JS stream, which
 * Node's HTTP/2 handles far more slowly (every read and write through JS:
 * about 2.5x the server's CPU per byte in bench/), so it is used only for
 * clients that need it.
 *
 * The client's `:authority` is known only from its first HEADERS, and a
 * client sends HEADERS only once the server's SETTINGS arrived (grpc-go and
 * grpc-js wait for them before a connection is ready). So, before Node sees
 * the connection, we send an empty SETTINGS frame ourselves, answer the
 * client's PINGs, and read until its first complete header block and its
 * SETTINGS ACK for our frame. Then the bytes read, minus that ACK and the
 * PINGs (Node would not expect them), are pushed back into the socket, and
 * Node's server starts on it as if nothing had happened: it sends its own
 * SETTINGS (a second SETTINGS frame is legal at any time) and reads the
 * client's preface, SETTINGS and HEADERS. Our empty SETTINGS changes nothing:
 * until Node's arrive, both sides use the protocol defaults.
 */
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.js';
import { H2FilterError, rewriteAuthority } from './h2-authority.js';
import { H2_PREFACE } from './sniffer.js';

const FRAME_HEADER_LEN = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_PING = 0x6;
const TYPE_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** An empty SETTINGS frame: the server preface, with every setting at its default. */
export const EMPTY_SETTINGS = Buffer.from([0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);

/** How to hand the connection to Node's HTTP/2 server. */
export type H2Route =
  /** The first `:authority` is fine: inject the socket itself. */
  | { kind: 'native' }
  /**
   * Through the AuthorityFilter. `dropSettingsAck`: the client has not
   * acknowledged our SETTINGS yet; the filter must drop that ACK when it comes.
   */
  | { kind: 'filter'; why: string; dropSettingsAck: boolean }
  /** The client left (or broke the protocol) before anything was decided; close the socket. */
  | { kind: 'gone'; why: string };

/** Bounds of the pre-handshake. */
export interface PrefaceOptions {
  /** Without a first header block in this time, the connection goes through the filter. */
  timeoutMs: number;
  /** Bytes read before a decision; beyond them, the connection goes through the filter. */
  maxBytes: number;
  clock: Clock;
}

/**
 * Runs the pre-handshake on a socket whose first bytes are the HTTP/2 client
 * preface (the sniffer pushed them back and paused it). On 'native' and
 * 'filter' the bytes to replay are pushed back and the socket is left paused.
 */
export function routeH2Client(socket: Duplex, opts: PrefaceOptions): Promise<H2Route> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    /** Parse position (frames before it are complete and kept in `keep`). */
    let pos = H2_PREFACE.length;
    const keep: Buffer[] = [];
    let ackSeen = false;
    let block: Buffer[] | undefined;
    let decided: 'native' | 'filter' | undefined;
    let settled = false;

    const finish = (r: H2Route): void => {
      if (settled) return;
      settled = true;
      opts.clock.clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      socket.off('error', onGone);
      if (r.kind !== 'gone') {
        socket.pause();
        const replay = Buffer.concat([buf.subarray(0, H2_PREFACE.length), ...keep, buf.subarray(pos)]);
        if (replay.length > 0) socket.unshift(replay);
      }
      resolve(r);
    };

    const toFilter = (why: string): void => finish({ kind: 'filter', why, dropSettingsAck: !ackSeen });

    const parse = (): void => {
      if (buf.length >= H2_PREFACE.length && !buf.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) {
        finish({ kind: 'gone', why: 'not an HTTP/2 client preface' });
        return;
      }
      while (buf.length - pos >= FRAME_HEADER_LEN) {
        const length = buf.readUIntBE(pos, 3);
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const end = pos + FRAME_HEADER_LEN + length;
        if (buf.length < end) break;
        const frame = buf.subarray(pos, end);
        const payload = buf.subarray(pos + FRAME_HEADER_LEN, end);
        pos = end;
        if (type === TYPE_SETTINGS && flags & FLAG_ACK && !ackSeen) {
          ackSeen = true; // the answer to our SETTINGS: Node must not see it
          continue;
        }
        if (type === TYPE_PING && !(flags & FLAG_ACK) && length === 8) {
          socket.write(Buffer.concat([Buffer.from([0, 0, 8, TYPE_PING, FLAG_ACK, 0, 0, 0, 0]), payload]));
          continue;
        }
        keep.push(frame);
        if (decided) continue;
        if (type === TYPE_HEADERS || (type === TYPE_CONTINUATION && block)) {
          block ??= [];
          block.push(fragment(type, flags, payload));
          if (flags & FLAG_END_HEADERS) decided = decide(Buffer.concat(block));
        }
      }
      if (decided && ackSeen) finish(decided === 'native' ? { kind: 'native' } : { kind: 'filter', why: 'the client sends an :authority Node refuses', dropSettingsAck: false });
      else if (buf.length > opts.maxBytes) toFilter(`no decision within ${opts.maxBytes} bytes`);
    };

    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      parse();
    };
    const onGone = (): void => finish({ kind: 'gone', why: 'the client left before its first request' });
    const timer = opts.clock.setTimeout(() => toFilter(`no request within ${opts.timeoutMs} ms`), opts.timeoutMs);

    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
    socket.write(EMPTY_SETTINGS);
    socket.resume();
  });
}

/** The header block fragment of a HEADERS or CONTINUATION payload (padding and priority removed). */
function fragment(type: number, flags: number, payload: Buffer): Buffer {
  if (type !== TYPE_HEADERS) return payload;
  let start = 0;
  let end = payload.length;
  if (flags & FLAG_PADDED) {
    end -= payload[0] ?? 0;
    start = 1;
  }
  if (flags & FLAG_PRIORITY) start += 5;
  return end > start ? payload.subarray(start, end) : Buffer.alloc(0);
}

/** 'native' when the first header block's :authority is acceptable to Node as is. */
function decide(block: Buffer): 'native' | 'filter' {
  try {
    return rewriteAuthority(block) === null ? 'native' : 'filter';
  } catch (e) {
    if (e instanceof H2FilterError) return 'filter'; // the filter reports it and closes
    throw e;
  }
}
