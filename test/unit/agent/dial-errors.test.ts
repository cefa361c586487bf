import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { READ_CHUNK_BYTES } from '../../../src/agent/limits.js';
import { DialError, describeDialError, parseDialAddress, tcpDialer } from '../../../src/agent/index.js';

const sysErr = (fields: Record<string, unknown>): Error => Object.assign(new Error(String(fields['code'])), fields);

describe('describeDialError: Go-like texts for DIAL_RSP', () => {
  const cases: [string, unknown, string, string, string][] = [
    [
      'refused',
      sysErr({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 1 }),
      '127.0.0.1:1',
      'dial tcp 127.0.0.1:1: connect: connection refused',
      'refused',
    ],
    [
      'refused on IPv6 (brackets, resolved address)',
      sysErr({ code: 'ECONNREFUSED', syscall: 'connect', address: '::1', port: 8080 }),
      'localhost:8080',
      'dial tcp [::1]:8080: connect: connection refused',
      'refused',
    ],
    ['i/o timeout', new DialError('ERR_DIAL_TIMEOUT', 'x'), '10.0.0.1:80', 'dial tcp 10.0.0.1:80: i/o timeout', 'timeout'],
    [
      'i/o timeout after the name was resolved',
      new DialError('ERR_DIAL_TIMEOUT', 'x', { resolvedAddress: '10.1.2.3:443' }),
      'api.internal:443',
      'dial tcp 10.1.2.3:443: i/o timeout',
      'timeout',
    ],
    [
      'i/o timeout while resolving',
      new DialError('ERR_DIAL_TIMEOUT', 'x', { lookupPending: true }),
      'api.internal:443',
      'dial tcp: lookup api.internal: i/o timeout',
      'timeout',
    ],
    [
      'no such host',
      sysErr({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nosuch.invalid' }),
      'nosuch.invalid:80',
      'dial tcp: lookup nosuch.invalid: no such host',
      'unknown',
    ],
    [
      'temporary DNS failure',
      sysErr({ code: 'EAI_AGAIN', syscall: 'getaddrinfo', hostname: 'svc.cluster.local' }),
      'svc.cluster.local:80',
      'dial tcp: lookup svc.cluster.local: Temporary failure in name resolution',
      'unknown',
    ],
    [
      'kernel connect timeout',
      sysErr({ code: 'ETIMEDOUT', syscall: 'connect', address: '10.0.0.9', port: 22 }),
      '10.0.0.9:22',
      'dial tcp 10.0.0.9:22: connect: connection timed out',
      'timeout',
    ],
    [
      'no route',
      sysErr({ code: 'EHOSTUNREACH', syscall: 'connect', address: '10.9.9.9', port: 80 }),
      '10.9.9.9:80',
      'dial tcp 10.9.9.9:80: connect: no route to host',
      'unknown',
    ],
    [
      'network unreachable',
      sysErr({ code: 'ENETUNREACH', syscall: 'connect', address: '2001:db8::1', port: 80 }),
      '[2001:db8::1]:80',
      'dial tcp [2001:db8::1]:80: connect: network is unreachable',
      'unknown',
    ],
    ['too many open files', sysErr({ code: 'EMFILE', syscall: 'socket' }), '10.0.0.1:80', 'dial tcp 10.0.0.1:80: socket: too many open files', 'unknown'],
    [
      'missing port',
      new DialError('ERR_DIAL_ADDRESS', 'address 10.0.0.1: missing port in address'),
      '10.0.0.1',
      'dial tcp: address 10.0.0.1: missing port in address',
      'unknown',
    ],
    ['unknown network', new DialError('ERR_DIAL_PROTOCOL', 'x'), '10.0.0.1:53', 'dial udp: unknown network udp', 'unknown'],
    ['cancelled', sysErr({ code: 'ABORT_ERR' }), '10.0.0.1:80', 'dial tcp 10.0.0.1:80: operation was canceled', 'unknown'],
    ['not allowed', new DialError('ERR_DIAL_NOT_ALLOWED', 'dial to 10.0.0.1:80 is not allowed'), '10.0.0.1:80', 'dial to 10.0.0.1:80 is not allowed', 'not_allowed'],
  ];
  it.each(cases)('%s', (_name, err, address, text, reason) => {
    const protocol = text.startsWith('dial udp') ? 'udp' : 'tcp';
    expect(describeDialError(err, address, protocol)).toEqual({ text, reason });
  });

  it('reports the last attempt of a happy-eyeballs AggregateError', () => {
    const agg = Object.assign(new AggregateError([
      sysErr({ code: 'ECONNREFUSED', syscall: 'connect', address: '::1', port: 1 }),
      sysErr({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 1 }),
    ]), { code: 'ECONNREFUSED' });
    expect(describeDialError(agg, 'localhost:1').text).toBe('dial tcp 127.0.0.1:1: connect: connection refused');
  });
});

describe('parseDialAddress: Go net.SplitHostPort words', () => {
  it.each([
    ['10.0.0.1', 'address 10.0.0.1: missing port in address'],
    ['::1:80', 'address ::1:80: too many colons in address'],
    ['[::1:80', "address [::1:80: missing ']' in address"],
    ['10.0.0.1:99999', 'address 99999: invalid port'],
    ['10.0.0.1:http', 'address http: invalid port'],
  ])('%s → %s', (address, message) => {
    expect(() => parseDialAddress(address)).toThrow(message);
  });

  it('accepts host:port and bracketed IPv6', () => {
    expect(parseDialAddress('kubernetes.default:443')).toEqual({ host: 'kubernetes.default', port: 443 });
    expect(parseDialAddress('[::1]:6443')).toEqual({ host: '::1', port: 6443 });
  });
});

describe('tcpDialer', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => s.end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('connects to a TCP listener on 127.0.0.1', async () => {
    const s = await tcpDialer(`127.0.0.1:${port}`, { timeoutMs: 5000, signal: new AbortController().signal });
    const got = await new Promise<string>((resolve) => {
      let b = '';
      s.on('data', (c: Buffer) => (b += c.toString()));
      s.on('end', () => resolve(b));
    });
    expect(got).toBe('hi');
    s.destroy();
  });

  it('reads up to READ_CHUNK_BYTES at a time, each chunk its own, keeping what arrives before anyone reads', async () => {
    const total = 16 * 1024 * 1024;
    const sent = randomBytes(total);
    const bulk = net.createServer((c) => c.end(sent));
    await new Promise<void>((r) => bulk.listen(0, '127.0.0.1', r));
    try {
      const s = await tcpDialer(`127.0.0.1:${(bulk.address() as net.AddressInfo).port}`, { timeoutMs: 5000, signal: new AbortController().signal });
      await new Promise((r) => setTimeout(r, 100)); // bytes arrive before a reader
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve) => {
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve());
      });
      s.destroy();
      expect(Buffer.concat(chunks).equals(sent)).toBe(true);
      const sizes = chunks.map((c) => c.length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(READ_CHUNK_BYTES);
      expect(Math.max(...sizes)).toBeGreaterThan(64 * 1024); // Node alone reads at most 64 KiB
      // No two chunks share memory (the read buffer is shared, the chunks are copies; small ones may share Node's pool).
      const large = chunks.filter((c) => c.length >= 4096);
      expect(new Set(large.map((c) => c.buffer)).size).toBe(large.length);
    } finally {
      await new Promise((r) => bulk.close(r));
    }
  });

  it('words a refused connection as Go does', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await tcpDialer(`127.0.0.1:${dead}`, { timeoutMs: 5000, signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(describeDialError(err, `127.0.0.1:${dead}`)).toEqual({
      text: `dial tcp 127.0.0.1:${dead}: connect: connection refused`,
      reason: 'refused',
    });
  });

  it('rejects at once when already aborted, and for a bad address', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(tcpDialer(`127.0.0.1:${port}`, { timeoutMs: 5000, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_DIAL_ABORTED' });
    await expect(tcpDialer('127.0.0.1', { timeoutMs: 5000, signal: new AbortController().signal })).rejects.toMatchObject({
      code: 'ERR_DIAL_ADDRESS',
      message: 'address 127.0.0.1: missing port in address',
    });
  });
});
