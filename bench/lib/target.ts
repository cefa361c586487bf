/**
 * Benchmark target, run as a child process: a TCP server on 127.0.0.1 that
 * speaks a tiny protocol. The client sends one op byte and a u64 count:
 *   'D' n: the target sends n pattern bytes, then closes (download);
 *   'U' n: the target reads and checks n pattern bytes, answers 8 bytes (the count), closes (upload);
 *   'E' 0: echo everything until the client closes (latency, dial rate);
 *   'S' tag: send the pattern without end until the client closes (stalled-reader
 *            scenario); the target records how far it got under `tag`;
 *   'Q' 0: answers JSON (open connections, the 'S' records) and closes; asked
 *          directly over TCP, not through the tunnel.
 * Prints its port on stdout as JSON.
 */
import net from 'node:net';
import { PatternChecker, patternBlock } from './pattern.js';

const seed = process.argv[2] ?? '';
const block = patternBlock(seed);

interface Stall {
  sent: () => number;
  open: boolean;
  openedAt: number;
  closedAt?: number;
}
const stalls = new Map<number, { sock: net.Socket; rec: Stall }>();
let open = 0;

function sendPattern(sock: net.Socket, total: number): { sent: () => number } {
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const at = sent % block.length;
      const n = Math.min(block.length - at, total - sent);
      sent += n;
      if (!sock.write(block.subarray(at, at + n))) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
  };
  pump();
  return { sent: () => sent };
}

function stats(): string {
  const out: Record<string, unknown> = {};
  for (const [tag, { sock, rec }] of stalls) {
    out[String(tag)] = {
      // Bytes handed to the kernel (what the target wrote minus what still waits in its own buffer).
      pushed: rec.sent() - (rec.open ? sock.writableLength : 0),
      open: rec.open,
      blocked: rec.open && sock.writableNeedDrain,
      openedAt: rec.openedAt,
      closedAt: rec.closedAt,
    };
  }
  return JSON.stringify({ open: open - 1, stalls: out });
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  open++;
  sock.once('close', () => open--);
  sock.on('error', () => sock.destroy());
  let head = Buffer.alloc(0);
  const onHead = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 9) return;
    sock.off('data', onHead);
    const op = String.fromCharCode(head[0]!);
    const n = Number(head.readBigUInt64BE(1));
    const rest = head.subarray(9);
    if (op === 'D') sendPattern(sock, n);
    else if (op === 'S') {
      const rec: Stall = { ...sendPattern(sock, Number.MAX_SAFE_INTEGER), open: true, openedAt: Date.now() };
      sock.once('close', () => {
        rec.open = false;
        rec.closedAt = Date.now();
      });
      stalls.set(n, { sock, rec });
    } else if (op === 'Q') sock.end(stats());
    else if (op === 'E') {
      if (rest.length) sock.write(rest);
      sock.pipe(sock);
    } else if (op === 'U') {
      const checker = new PatternChecker(block);
      const take = (c: Buffer): void => {
        try {
          checker.check(c);
        } catch (e) {
          process.stderr.write(`target: ${(e as Error).message}\n`);
          sock.destroy();
          return;
        }
        if (checker.offset >= n) {
          sock.off('data', take);
          const ack = Buffer.alloc(8);
          ack.writeBigUInt64BE(BigInt(checker.offset));
          sock.end(ack);
        }
      };
      sock.on('data', take);
      if (rest.length) take(rest);
    } else sock.destroy();
  };
  sock.on('data', onHead);
});
server.maxConnections = 20000;
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ port: a.port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
