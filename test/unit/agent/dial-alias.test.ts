/** --dial-alias: a dial to name:port goes to target:port; anything else is dialed as asked. */
import { describe, expect, it } from '@jest/globals';
import { aliasDialer, parseDialAliases, resolveAlias } from '../../../src/agent/dial-alias.js';
import type { EndpointDialer } from '../../../src/agent/dialer.js';

describe('dial aliases', () => {
  const aliases = parseDialAliases(['cluster-a=127.0.0.1', 'Cluster-B=kubernetes.default.svc,v6=::1']);

  it('parses name=host pairs, names case-insensitive', () => {
    expect(aliases).toEqual({ 'cluster-a': '127.0.0.1', 'cluster-b': 'kubernetes.default.svc', v6: '::1' });
    expect(() => parseDialAliases(['=x'])).toThrow('"=x" is not name=host');
    expect(() => parseDialAliases(['a='])).toThrow('"a=" is not name=host');
  });

  it('maps the host and keeps the port asked for', () => {
    expect(resolveAlias('cluster-a:6443', aliases)).toBe('127.0.0.1:6443');
    expect(resolveAlias('CLUSTER-B:443', aliases)).toBe('kubernetes.default.svc:443');
    expect(resolveAlias('v6:80', aliases)).toBe('[::1]:80');
    expect(resolveAlias('10.0.0.1:443', aliases)).toBe('10.0.0.1:443');
    expect(resolveAlias('no-port', aliases)).toBe('no-port');
  });

  it('wraps a dialer only when there are aliases', async () => {
    const seen: string[] = [];
    const inner: EndpointDialer = (address) => {
      seen.push(address);
      return Promise.reject(new Error('not really dialing'));
    };
    expect(aliasDialer(inner, {})).toBe(inner);
    const d = aliasDialer(inner, aliases);
    const opts = { timeoutMs: 1000, signal: new AbortController().signal };
    await expect(d('cluster-a:8080', opts)).rejects.toThrow('not really dialing');
    await expect(d('elsewhere:8080', opts)).rejects.toThrow('not really dialing');
    expect(seen).toEqual(['127.0.0.1:8080', 'elsewhere:8080']);
  });
});
