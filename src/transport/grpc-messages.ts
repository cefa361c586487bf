/**
 * gRPC message framing over a plain HTTP/2 stream (the "Length-Prefixed-
 * Message" of the gRPC wire format: 1 byte compressed flag, 4 bytes
 * big-endian length, then the protobuf bytes), for the paths that speak
 * gRPC without grpc-js (the client library's HTTP/2 transport).
 *
 * Why not grpc-js there: on a bulk transfer grpc-js copies every message
 * twice (it collects the 16 KiB HTTP/2 frames of a message into one buffer,
 * and copies each outgoing message behind its prefix), and the buffers it
 * allocates per message keep the garbage collector busy. Here an incoming
 * DATA payload is passed on as the frames bring it, as views of the bytes
 * Node read from the socket (see `dataHead` in protocol/codec.ts), and an
 * outgoing packet is encoded once, behind room for its prefix.
 */
import { data, dataHead, decodePacket, encodePacket, type Packet, PacketType, ProtocolError } from '../protocol/index.js';

const PREFIX = 5;

/** `p` as one gRPC message (prefix and protobuf bytes in one buffer). */
export function frameMessage(p: Packet): Buffer {
  const b = encodePacket(p, PREFIX);
  b[0] = 0;
  b.writeUInt32BE(b.length - PREFIX, 1);
  return b;
}

/**
 * DATA packets that carry the later pieces of one DATA message split by
 * GrpcMessageReader: the same payload, delivered in more than one packet.
 * Counted once in packet metrics (see isContinuation).
 */
const CONTINUED: unique symbol = Symbol('continued');

/** True for a DATA packet that continues the payload of the DATA message before it. */
export function isContinuation(p: Packet): boolean {
  return (p as { [CONTINUED]?: true })[CONTINUED] === true;
}

/** A later piece of a split DATA message (see isContinuation). */
function continued(connectID: bigint, piece: Uint8Array): Packet {
  return { type: PacketType.DATA, data: { connectID, error: '', data: piece }, [CONTINUED]: true } as Packet;
}

/**
 * Turns the body of a gRPC stream, chunk by chunk, into packets.
 *
 * A message that arrives whole in one chunk is decoded in place. A DATA
 * message spread over several chunks comes out as several DATA packets of
 * the same connection (the first counted as the packet, the others marked
 * with isContinuation), each a view of its chunk: the bytes a connection
 * receives are the same, in the same order, without being copied. Other
 * messages spread over chunks are collected and decoded once complete.
 * Compressed messages (never negotiated: we send no grpc-accept-encoding
 * but identity) and messages over `maxMessageBytes` are refused with a
 * ProtocolError.
 */
export class GrpcMessageReader {
  private readonly prefix = Buffer.alloc(PREFIX);
  private prefixHave = 0;
  /** Length of the message being read; -1 while reading a prefix. */
  private messageLength = -1;
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Payload bytes of a split DATA message still to pass on. */
  private passLeft = 0;
  private passConnectID = 0n;
  /** The next piece passed on is the first of its message (counted as the packet). */
  private passFirst = false;

  /**
   * Meant for an end of the tunnel (the client library). A relay should not
   * split: each piece would go on as a packet of its own, one per HTTP/2
   * frame downstream (measured: 4 times the packets to the agent, and more
   * CPU on the server, agent and target than the copy saved).
   */
  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Appends the packets completed by `chunk` to `out`. Throws ProtocolError
   * for a malformed message; the packets appended before it are good.
   */
  push(chunk: Buffer, out: Packet[]): void {
    const n = chunk.length;
    let off = 0;
    while (off < n) {
      if (this.passLeft > 0) {
        const take = Math.min(this.passLeft, n - off);
        const piece = chunk.subarray(off, off + take);
        out.push(this.passFirst ? data(this.passConnectID, piece) : continued(this.passConnectID, piece));
        this.passFirst = false;
        this.passLeft -= take;
        off += take;
        continue;
      }
      if (this.messageLength < 0) {
        if (this.prefixHave === 0 && n - off >= PREFIX) {
          this.startMessage(chunk[off]!, chunk.readUInt32BE(off + 1), out);
          off += PREFIX;
        } else {
          const take = Math.min(PREFIX - this.prefixHave, n - off);
          chunk.copy(this.prefix, this.prefixHave, off, off + take);
          this.prefixHave += take;
          off += take;
          if (this.prefixHave === PREFIX) {
            this.prefixHave = 0;
            this.startMessage(this.prefix[0]!, this.prefix.readUInt32BE(1), out);
          }
        }
        continue;
      }
      const avail = n - off;
      const need = this.messageLength - this.partsLength;
      if (this.partsLength === 0) {
        if (avail >= need) {
          out.push(decodePacket(chunk.subarray(off, off + need)));
          off += need;
          this.messageLength = -1;
          continue;
        }
        const head = dataHead(chunk, off, n, this.messageLength);
        if (head !== undefined) {
          // The payload starts in this chunk and runs to the end of the message:
          // pass it on from here, piece by piece.
          this.passConnectID = head.connectID;
          this.passLeft = this.messageLength - head.headLength;
          this.passFirst = true;
          this.messageLength = -1;
          off += head.headLength;
          continue;
        }
      }
      const take = Math.min(need, avail);
      this.parts.push(chunk.subarray(off, off + take));
      this.partsLength += take;
      off += take;
      if (this.partsLength === this.messageLength) {
        const whole = Buffer.concat(this.parts, this.partsLength);
        this.parts = [];
        this.partsLength = 0;
        this.messageLength = -1;
        out.push(decodePacket(whole));
      }
    }
  }

  /** The body ended: throws if it ended inside a message. */
  end(): void {
    if (this.prefixHave > 0 || this.messageLength >= 0 || this.passLeft > 0) {
      throw new ProtocolError('ERR_MALFORMED_PACKET', 'malformed packet: the stream ended inside a gRPC message');
    }
  }

  private startMessage(flag: number, length: number, out: Packet[]): void {
    if (flag !== 0) {
      throw new ProtocolError(
        'ERR_MALFORMED_PACKET',
        flag === 1 ? 'compressed gRPC message, but no compression was negotiated' : `gRPC message with flag byte ${flag}`,
      );
    }
    if (length > this.maxMessageBytes) {
      throw new ProtocolError('ERR_PACKET_TOO_LARGE', `gRPC message of ${length} bytes, over the limit of ${this.maxMessageBytes}`);
    }
    if (length === 0) {
      out.push(decodePacket(Buffer.alloc(0))); // an empty Packet is a DIAL_REQ without payload: refused there
      return;
    }
    this.messageLength = length;
  }
}
