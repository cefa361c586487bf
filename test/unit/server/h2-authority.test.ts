import { afterEach, describe, expect, it } from '@jest/globals';
import http2 from 'node:http2';
import net from 'node:net';
import { AuthorityFilter, filterAuthority, rewriteAuthority, sanitizeAuthority } from '../../../src/server/h2-authority.js';
import { huffmanDecode } from '../../../src/server/hpack-huffman.js';

describe('HPACK Huffman decoding', () => {
  it('decodes the RFC 7541 C.4.1 example', () => {
    expect(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex'))?.toString()).toBe('www.example.com');
  });
  it('refuses bad padding', () => {
    expect(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f400', 'hex'))).toBeUndefined();
  });
});

describe('rewriteAuthority', () => {
  const lit = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

  it('leaves a block with a valid :authority alone', () => {
    expect(rewriteAuthority(Buffer.concat([Buffer.from([0x82, 0x41]), lit('localhost')]))).toBeNull();
  });

  it('rewrites a raw socket path, keeping the representation and the length', () => {
    const block = Buffer.concat([Buffer.from([0x83, 0x41]), lit('/run/x.sock'), Buffer.from([0x86])]);
    expect(rewriteAuthority(block)).toEqual(Buffer.concat([Buffer.from([0x83, 0x41]), lit('_run_x.sock'), Buffer.from([0x86])]));
  });

  it('rewrites a literal :authority name and a never-indexed field', () => {
    const named = Buffer.concat([Buffer.from([0x40]), lit(':authority'), lit('a b')]);
    expect(rewriteAuthority(named)).toEqual(Buffer.concat([Buffer.from([0x40]), lit(':authority'), lit('a_b')]));
    const never = Buffer.concat([Buffer.from([0x11]), lit('/p')]);
    expect(rewriteAuthority(never)).toEqual(Buffer.concat([Buffer.from([0x11]), lit('_p')]));
  });

  it('keeps valid authority characters', () => {
    expect(sanitizeAuthority(Buffer.from('%2Fetc%2Fx.sock:80'))).toBeUndefined();
    expect(sanitizeAuthority(Buffer.from('[::1]:443'))).toBeUndefined();
  });

  it('refuses a truncated block', () => {
    const f = new AuthorityFilter();
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    // HEADERS, END_HEADERS, stream 1, payload: literal :authority with a length past the end
    const frame = Buffer.from([0, 0, 3, 0x1, 0x4, 0, 0, 0, 1, 0x41, 0x7e, 0x61]);
    expect(() => f.push(Buffer.concat([preface, frame]))).toThrow('truncated');
  });
});

describe('filterAuthority with a real HTTP/2 client and server', () => {
  let cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });

  async function roundTrip(authority: string, requests: number): Promise<string[]> {
    const seen: string[] = [];
    const h2 = http2.createServer();
    h2.on('stream', (st, headers) => {
      seen.push(String(headers[':authority']));
      st.respond({ ':status': 200 });
      st.end('ok');
    });
    const tcp = net.createServer((sock) => h2.emit('connection', filterAuthority(sock, () => undefined)));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const session = http2.connect(`http://127.0.0.1:${(tcp.address() as net.AddressInfo).port}`);
    cleanup.push(() => {
      session.destroy();
      tcp.close();
      h2.close();
    });
    for (let i = 0; i < requests; i++) {
      const req = session.request({ ':path': `/r${i}`, ':authority': authority, 'x-big': 'v'.repeat(i * 3000) });
      const status = await new Promise<number>((resolve, reject) => {
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
      });
      expect(status).toBe(200);
      req.resume();
      req.end();
    }
    return seen;
  }

  it('lets a raw socket path through, on every stream of the connection', async () => {
    const path = '/etc/kubernetes/konnectivity-server/konnectivity-server.socket';
    expect(await roundTrip(path, 6)).toEqual(Array(6).fill(path.replace(/\//g, '_')));
  });

  it('passes a normal authority unchanged', async () => {
    expect(await roundTrip('localhost:8090', 2)).toEqual(['localhost:8090', 'localhost:8090']);
  });
});
