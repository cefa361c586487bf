import { describe, expect, it } from '@jest/globals';
import { classify, H2_PREFACE } from '../../../src/server/sniffer.js';

const b = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

describe('frontend sniffer', () => {
  it.each([
    ['the full HTTP/2 preface', H2_PREFACE, 'h2'],
    ['the preface with frames after it', Buffer.concat([H2_PREFACE, Buffer.alloc(9)]), 'h2'],
    ['part of the preface', H2_PREFACE.subarray(0, 10), 'more'],
    ['a CONNECT request line', 'CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n', 'http1'],
    ['a GET with LF only', 'GET / HTTP/1.0\n', 'http1'],
    ['a partial request line', 'CONNECT 10.0.0.1:4', 'more'],
    ['nothing yet', '', 'more'],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), 'bad'],
    ['binary garbage', Buffer.from([0x00, 0xff, 0x10]), 'bad'],
    ['HTTP/2 in the request line', 'PRI / HTTP/2.0\r\n', 'bad'],
    ['a request line without version', 'GET /\r\n', 'bad'],
    ['"PRI * HTTP/2.0" followed by something else', 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'bad'],
  ])('%s -> %s', (_name, input, kind) => {
    expect(classify(b(input), 64).kind).toBe(kind);
  });

  it('gives up on a request line longer than the bound', () => {
    expect(classify(b('GET /' + 'a'.repeat(100)), 64)).toEqual({ kind: 'bad', reason: 'request_line_too_long' });
  });
});
