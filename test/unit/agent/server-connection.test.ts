import { afterAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectMetadata, parseHeaders } from '../../../src/agent/server-connection.js';
import { grpcCodeName } from '../../../src/agent/grpc-options.js';

const md = (pairs: [string, string][]): grpc.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of pairs) m.add(k, v);
  return m;
};

describe('server headers', () => {
  it('takes exactly one serverid and one servercount', () => {
    expect(parseHeaders(md([['serverid', 'a'], ['servercount', '3']]))).toEqual({ serverID: 'a', serverCount: 3 });
  });

  it.each([
    [[['servercount', '1']], 'expected one serverid header from the server, got 0'],
    [[['serverid', 'a'], ['serverid', 'b'], ['servercount', '1']], 'expected one serverid header from the server, got 2'],
    [[['serverid', 'a'], ['servercount', '1'], ['servercount', '2']], 'expected one servercount header from the server, got 2'],
    [[['serverid', 'a'], ['servercount', 'three']], 'invalid servercount header "three": want a whole number of at least 1'],
    [[['serverid', 'a'], ['servercount', '0']], 'invalid servercount header "0"'],
  ] as [[string, string][], string][])('refuses %j', (pairs, message) => {
    expect(() => parseHeaders(md(pairs))).toThrow(message);
  });
});

describe('Connect metadata', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = { agentID: 'a1', agentIdentifiers: 'host=a1', serviceAccountTokenPath: '', keepaliveTimeMs: 1, caCert: '', agentCert: '', agentKey: '' };

  it('carries the token as is, read at each call', async () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, 'abc.def ');
    const m = await connectMetadata({ ...base, serviceAccountTokenPath: file });
    expect(m.get('authorization')).toEqual(['Bearer abc.def ']);
    expect(m.get('agentid')).toEqual(['a1']);
    expect(m.get('agentidentifiers')).toEqual(['host=a1']);
    writeFileSync(file, 'rotated');
    expect((await connectMetadata({ ...base, serviceAccountTokenPath: file })).get('authorization')).toEqual(['Bearer rotated']);
  });

  it('explains a token that cannot go in a header without quoting it', async () => {
    const file = path.join(dir, 'token-nl');
    writeFileSync(file, 'secret-value\n');
    const err = (await connectMetadata({ ...base, serviceAccountTokenPath: file }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/has characters not allowed in a header \(a trailing newline\?\)/);
    expect(err.message).not.toContain('secret-value');
  });

  it('names a token file that cannot be read', async () => {
    await expect(connectMetadata({ ...base, serviceAccountTokenPath: path.join(dir, 'none') })).rejects.toMatchObject({
      code: 'ERR_TOKEN_READ',
    });
  });
});

describe('grpcCodeName', () => {
  it('names status codes as grpc-go does', () => {
    expect(grpcCodeName(grpc.status.UNAUTHENTICATED)).toBe('Unauthenticated');
    expect(grpcCodeName(grpc.status.CANCELLED)).toBe('Canceled');
    expect(grpcCodeName(grpc.status.DEADLINE_EXCEEDED)).toBe('DeadlineExceeded');
    expect(grpcCodeName(undefined)).toBe('Unknown');
  });
});
