/**
 * Benchmark target, run as a child process: a TCP server on 127.0.0.1 that
 * speaks a tiny protocol. The client sends one op byte and a u64 count:
 *   'D' n: the target sends n pattern bytes, then closes (download);
 *   'U' n: the target reads and checks n pattern bytes, answers 8 bytes (the count), closes (upload);
 *   'E' 0: echo everything until the client closes (latency, dial rate);
 *   'S' 0: send the pattern without end until the client closes (stalled-reader scenario).
 * Prints its port on stdout as JSON.
 */
import net from 'node:net';
import { PatternChecker, patternBlock } from './pattern.js';

const seed = process.argv[2] ?? '';
const block = patternBlock(seed);

function sendPattern(sock: net.Socket, total: number): void {
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
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
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
    else if (op === 'S') sendPattern(sock, Number.MAX_SAFE_INTEGER);
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
