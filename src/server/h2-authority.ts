/**
 * Lets gRPC clients with a Unix-socket path as `:authority` in.
 *
 * Older grpc-go clients (kube-apiserver among them) dialing a Unix socket
 * send the raw socket path as `:authority` ("/etc/kubernetes/...socket").
 * Node's HTTP/2 stack (nghttp2) refuses characters such as '/' or ' ' in
 * `:authority` with RST_STREAM PROTOCOL_ERROR, and Node has no option to
 * relax that. The frontend must accept any authority and ignores it, so on
 * Unix-socket connections this filter rewrites literal `:authority` values
 * before nghttp2 sees them: each character nghttp2 refuses becomes '_'
 * ("/run/x.sock" → "_run_x.sock"). The value keeps its decoded length, so the
 * HPACK dynamic table entry keeps its size and the client's and server's
 * tables stay in step (the new value is sent as a plain, non-Huffman
 * string). Indexed fields need no change: they name table entries already
 * rewritten. Header blocks with nothing to rewrite, and all other frames,
 * pass through byte for byte.
 */
import { Duplex } from 'node:stream';
import { huffmanDecode } from './hpack-huffman.js';

const PREFACE_LEN = 24;
const FRAME_HEADER_LEN = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const TYPE_SETTINGS = 0x4;
const FLAG_ACK = 0x1;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** Node's (and the RFC's default) SETTINGS_MAX_FRAME_SIZE; rewritten blocks are framed within it. */
const MAX_FRAME = 16_384;
/** A header block larger than this closes the connection (Node's own limit is far lower). */
export const MAX_HEADER_BLOCK = 256 * 1024;

const AUTHORITY = Buffer.from(':authority', 'latin1');
/** Characters nghttp2 accepts in :authority (RFC 3986 authority characters and '%'). */
const AUTHORITY_OK = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]$/;

/** The value with every character nghttp2 refuses replaced by '_'; undefined if it is fine as is. */
export function sanitizeAuthority(value: Buffer): Buffer | undefined {
  let out: Buffer | undefined;
  for (let i = 0; i < value.length; i++) {
    if (!AUTHORITY_OK.test(String.fromCharCode(value[i]!))) {
      out ??= Buffer.from(value);
      out[i] = 0x5f; // '_'
    }
  }
  return out;
}

/** The header block could not be parsed; the connection is closed. */
export class H2FilterError extends Error {
  readonly code = 'ERR_H2_FILTER';
  constructor(message: string) {
    super(message);
    this.name = 'H2FilterError';
  }
}

/** Decodes an HPACK integer with an n-bit prefix at `pos`. */
function readInt(buf: Buffer, pos: number, prefixBits: number): { value: number; next: number } {
  if (pos >= buf.length) throw new H2FilterError('truncated HPACK integer');
  const max = (1 << prefixBits) - 1;
  let value = buf[pos]! & max;
  let i = pos + 1;
  if (value < max) return { value, next: i };
  let shift = 0;
  for (;;) {
    if (i >= buf.length) throw new H2FilterError('truncated HPACK integer');
    const b = buf[i++]!;
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    if (shift > 28) throw new H2FilterError('HPACK integer too large');
  }
  return { value, next: i };
}

/** Encodes an HPACK integer with an n-bit prefix; `first` holds the representation's high bits. */
function writeInt(first: number, prefixBits: number, value: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Skips an HPACK string literal at `pos`; returns its raw-or-Huffman flag and bounds. */
function readString(buf: Buffer, pos: number): { huffman: boolean; start: number; end: number } {
  if (pos >= buf.length) throw new H2FilterError('truncated HPACK string');
  const huffman = (buf[pos]! & 0x80) !== 0;
  const { value: len, next } = readInt(buf, pos, 7);
  if (next + len > buf.length) throw new H2FilterError('truncated HPACK string');
  return { huffman, start: next, end: next + len };
}

/**
 * Rewrites the literal `:authority` values nghttp2 would refuse in one HPACK
 * header block. Returns null when nothing needed rewriting (the block is
 * then forwarded unchanged).
 */
export function rewriteAuthority(block: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let copiedTo = 0;
  let i = 0;
  while (i < block.length) {
    const b = block[i]!;
    if (b & 0x80) {
      i = readInt(block, i, 7).next; // indexed field
      continue;
    }
    if ((b & 0xe0) === 0x20) {
      i = readInt(block, i, 5).next; // dynamic table size update
      continue;
    }
    const prefix = (b & 0xc0) === 0x40 ? 6 : 4; // with incremental indexing, or without / never indexed
    const { value: nameIndex, next } = readInt(block, i, prefix);
    let isAuthority = nameIndex === 1; // static table entry 1 is :authority
    let j = next;
    if (nameIndex === 0) {
      const name = readString(block, j);
      const raw = block.subarray(name.start, name.end);
      isAuthority = (name.huffman ? huffmanDecode(raw) : raw)?.equals(AUTHORITY) ?? false;
      j = name.end;
    }
    const value = readString(block, j);
    i = value.end;
    if (!isAuthority) continue;
    const raw = block.subarray(value.start, value.end);
    const decoded = value.huffman ? huffmanDecode(raw) : raw;
    if (!decoded) throw new H2FilterError('invalid Huffman code in :authority');
    const fixed = sanitizeAuthority(decoded);
    if (!fixed) continue;
    parts.push(block.subarray(copiedTo, j), writeInt(0, 7, fixed.length), fixed);
    copiedTo = value.end;
  }
  if (copiedTo === 0) return null;
  parts.push(block.subarray(copiedTo));
  return Buffer.concat(parts);
}

function frameHeader(length: number, type: number, flags: number, streamID: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_LEN);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamID & 0x7fffffff, 5);
  return h;
}

/** A header block being collected across HEADERS and CONTINUATION frames. */
interface PendingBlock {
  streamID: number;
  endStream: boolean;
  priority: Buffer | undefined;
  fragments: Buffer[];
  size: number;
  /** The frames as received, forwarded unchanged when nothing is rewritten. */
  raw: Buffer[];
}

/** Incremental client→server byte filter of one HTTP/2 connection. */
export class AuthorityFilter {
  /**
   * @param dropSettingsAck drop the client's first SETTINGS ACK: it answers
   *   the SETTINGS frame the pre-handshake sent (h2-preface.ts), which Node's
   *   server never sent.
   */
  constructor(private dropSettingsAck = false) {}

  private prefaceLeft = PREFACE_LEN;
  private header: Buffer = Buffer.alloc(0);
  private payloadLeft = 0;
  /** Collecting the payload of a HEADERS/CONTINUATION frame. */
  private framePayload: Buffer[] | undefined;
  private frameNeed = 0;
  private frameHead: Buffer | undefined;
  private block: PendingBlock | undefined;

  /** Feeds received bytes; returns the bytes to pass on. Throws H2FilterError on a broken stream. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.prefaceLeft -= n;
        pos += n;
      } else if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        this.payloadLeft -= n;
        pos += n;
      } else if (this.framePayload) {
        const n = Math.min(this.frameNeed, chunk.length - pos);
        this.framePayload.push(chunk.subarray(pos, pos + n));
        this.frameNeed -= n;
        pos += n;
        if (this.frameNeed === 0) this.onBlockFrame(out);
      } else {
        const n = Math.min(FRAME_HEADER_LEN - this.header.length, chunk.length - pos);
        this.header = Buffer.concat([this.header, chunk.subarray(pos, pos + n)]);
        pos += n;
        if (this.header.length === FRAME_HEADER_LEN) this.onFrameHeader(out);
      }
    }
    return out;
  }

  private onFrameHeader(out: Buffer[]): void {
    const h = this.header;
    this.header = Buffer.alloc(0);
    const length = h.readUIntBE(0, 3);
    const type = h[3]!;
    if (this.block && type !== TYPE_CONTINUATION) throw new H2FilterError('header block interrupted by another frame');
    if (type === TYPE_HEADERS || type === TYPE_CONTINUATION) {
      this.frameHead = h;
      this.framePayload = [];
      this.frameNeed = length;
      if (length === 0) this.onBlockFrame(out);
      return;
    }
    if (this.dropSettingsAck && type === TYPE_SETTINGS && h[4]! & FLAG_ACK && length === 0) {
      this.dropSettingsAck = false;
      return;
    }
    out.push(h);
    this.payloadLeft = length;
  }

  private onBlockFrame(out: Buffer[]): void {
    const h = this.frameHead!;
    const payload = Buffer.concat(this.framePayload!);
    this.framePayload = undefined;
    this.frameHead = undefined;
    const type = h[3]!;
    const flags = h[4]!;
    const streamID = h.readUInt32BE(5) & 0x7fffffff;
    let fragment = payload;
    if (type === TYPE_HEADERS) {
      if (this.block) throw new H2FilterError('HEADERS inside a header block');
      let start = 0;
      let end = payload.length;
      if (flags & FLAG_PADDED) {
        if (payload.length < 1) throw new H2FilterError('bad padding');
        end -= payload[0]!;
        start = 1;
      }
      let priority: Buffer | undefined;
      if (flags & FLAG_PRIORITY) {
        priority = payload.subarray(start, start + 5);
        start += 5;
      }
      if (end < start) throw new H2FilterError('bad padding');
      fragment = payload.subarray(start, end);
      this.block = {
        streamID,
        endStream: (flags & FLAG_END_STREAM) !== 0,
        priority,
        fragments: [],
        size: 0,
        raw: [],
      };
    } else if (!this.block) {
      throw new H2FilterError('CONTINUATION without HEADERS');
    }
    const blk = this.block;
    blk.fragments.push(fragment);
    blk.raw.push(h, payload);
    blk.size += fragment.length;
    if (blk.size > MAX_HEADER_BLOCK) throw new H2FilterError(`header block larger than ${MAX_HEADER_BLOCK} bytes`);
    if (!(flags & FLAG_END_HEADERS)) return;
    this.block = undefined;
    const rewritten = rewriteAuthority(Buffer.concat(blk.fragments));
    if (!rewritten) {
      out.push(...blk.raw);
      return;
    }
    this.emitBlock(out, blk, rewritten);
  }

  private emitBlock(out: Buffer[], blk: PendingBlock, block: Buffer): void {
    const prio = blk.priority ?? Buffer.alloc(0);
    let pos = 0;
    let first = true;
    while (first || pos < block.length) {
      const room = MAX_FRAME - (first ? prio.length : 0);
      const piece = block.subarray(pos, pos + room);
      pos += piece.length;
      const last = pos >= block.length;
      if (first) {
        const flags =
          (blk.endStream ? FLAG_END_STREAM : 0) | (blk.priority ? FLAG_PRIORITY : 0) | (last ? FLAG_END_HEADERS : 0);
        out.push(frameHeader(prio.length + piece.length, TYPE_HEADERS, flags, blk.streamID), prio, piece);
      } else {
        out.push(frameHeader(piece.length, TYPE_CONTINUATION, last ? FLAG_END_HEADERS : 0, blk.streamID), piece);
      }
      first = false;
    }
  }
}

/**
 * Wraps a socket in a Duplex whose readable side carries the client's bytes
 * through an AuthorityFilter; writes go to the socket unchanged. Closing
 * either closes both. `onError` hears a broken header block (the socket is
 * then destroyed).
 *
 * Writes are handed to the socket at once and acknowledged while the socket
 * has room (waiting for each one to be flushed would cost one system call per
 * HTTP/2 frame); batches arrive corked, so the socket sends them together.
 */
export function filterAuthority(socket: Duplex, onError: (e: Error) => void, opts: { dropSettingsAck?: boolean } = {}): Duplex {
  const filter = new AuthorityFilter(opts.dropSettingsAck === true);
  /** Acknowledges a write now, or once the socket drains (or closes). */
  const ack = (room: boolean, cb: (err?: Error | null) => void): void => {
    if (room || socket.destroyed) {
      cb();
      return;
    }
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      cb();
    };
    socket.on('drain', done);
    socket.on('close', done);
  };
  const wrapper = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      ack(socket.write(chunk), cb);
    },
    writev(chunks: { chunk: Buffer }[], cb) {
      socket.cork();
      let room = true;
      for (const c of chunks) room = socket.write(c.chunk) && room;
      socket.uncork();
      ack(room, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    let parts: Buffer[];
    try {
      parts = filter.push(chunk);
    } catch (e) {
      onError(e as Error);
      wrapper.destroy();
      return;
    }
    let more = true;
    for (const p of parts) if (p.length > 0) more = wrapper.push(p) && more;
    if (!more) socket.pause();
  });
  socket.on('end', () => wrapper.push(null));
  socket.on('close', () => wrapper.destroy());
  socket.on('error', () => wrapper.destroy());
  return wrapper;
}
