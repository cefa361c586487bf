/**
 * HTTP CONNECT input checks: which request-targets the frontend dials and
 * which it answers with 400 before any agent is asked; and error responses
 * that let go of a client which neither reads nor closes.
 */
import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { respondAndClose } from '../../../src/server/http-head.js';
import { connectTargetError } from '../../../src/server/http-connect.js';
import { HTTP_CLOSE_LINGER_MS } from '../../../src/server/limits.js';

describe('CONNECT request-targets', () => {
  it.each(['10.0.0.1:10250', 'cluster-a:443', 'kubernetes.default.svc:443', '[::1]:6443', '[fe80::1%eth0]:22', 'a:1', 'a:65535'])(
    'dials %s',
    (target) => {
      expect(connectTargetError(target)).toBeUndefined();
    },
  );

  it.each([
    ['', 'missing port'],
    ['10.0.0.1', 'missing port'],
    ['/', 'missing port'],
    ['10.0.0.1:', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:0', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:65536', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:+80', 'the port must be a number from 1 to 65535'],
    ['10.0.0.1:https', 'the port must be a number from 1 to 65535'],
    [':80', 'missing host'],
    ['[]:80', 'missing host'],
    ['::1:80', 'too many colons'],
    ['[::1:80', 'missing "]"'],
    ['[::1]', 'missing port'],
    ['[::1]:80:81', 'unexpected characters after the port'],
  ])('refuses "%s" (%s)', (target, why) => {
    expect(connectTargetError(target)).toContain(why);
    expect(connectTargetError(target)).toContain(`"${target}"`);
  });
});

describe('error responses', () => {
  it(`close the connection ${HTTP_CLOSE_LINGER_MS} ms after the response even if the client keeps it open`, async () => {
    let serverSide: net.Socket | undefined;
    const srv = net.createServer((s) => {
      serverSide = s;
      respondAndClose(s, 400, 'Bad Request', 'nope\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    // allowHalfOpen: the client does not answer the server's FIN with its own; it keeps its side open.
    const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString()));
      await new Promise((r) => client.once('end', r));
      expect(got).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(got.endsWith('\r\n\r\nnope\n')).toBe(true);
      if (!serverSide!.destroyed) await new Promise((r) => serverSide!.once('close', r));
      expect(client.writable).toBe(true); // the client still holds its side: the server let go on its own
    } finally {
      client.destroy();
      await new Promise((r) => srv.close(r));
    }
  });
});
