import { describe, expect, it } from '@jest/globals';
import {
  formatGoDuration,
  parseGoBool,
  parseGoDuration,
  parseGoFloat,
  parseGoInt,
  parseGoList,
} from '../../../src/cli/go-values.js';
import { closest } from '../../../src/cli/suggest.js';
import { parseCipherSuites, parseTlsMinVersion } from '../../../src/cli/tls-values.js';

describe('Go durations', () => {
  it.each([
    ['0', 0],
    ['300ms', 300],
    ['1s', 1000],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h0m0s', 3_600_000],
    ['2h45m', 9_900_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['2000000ns', 2],
    ['+5s', 5000],
    ['-1s', -1000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it('refuses a bare number other than 0, saying a unit is needed', () => {
    expect(() => parseGoDuration('5')).toThrow(/no unit.*300ms/);
    expect(() => parseGoDuration('1.5')).toThrow(/no unit/);
  });

  it.each(['', 's', '1x', '1d', 'abc', '1s2', '--1s'])('refuses %p', (text) => {
    expect(() => parseGoDuration(text)).toThrow(/Go duration/);
  });

  it('names an unknown unit', () => {
    expect(() => parseGoDuration('3d')).toThrow(/unknown unit "d"/);
  });

  it.each([
    [0, '0s'],
    [300, '300ms'],
    [1000, '1s'],
    [10_000, '10s'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
  ])('prints %d ms as Go does: %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});

describe('Go booleans, ints, floats, lists', () => {
  it.each(['1', 't', 'T', 'true', 'TRUE', 'True'])('%s is true', (t) => expect(parseGoBool(t)).toBe(true));
  it.each(['0', 'f', 'F', 'false', 'FALSE', 'False'])('%s is false', (t) => expect(parseGoBool(t)).toBe(false));
  it.each(['', 'yes', 'on', 'tru'])('%p is refused', (t) => expect(() => parseGoBool(t)).toThrow(/true or false/));

  it('reads decimal integers and refuses the rest', () => {
    expect(parseGoInt('8090')).toBe(8090);
    expect(parseGoInt('-1')).toBe(-1);
    expect(() => parseGoInt('80a')).toThrow(/whole number/);
    expect(() => parseGoInt('1.5')).toThrow(/whole number/);
    expect(() => parseGoInt('')).toThrow(/whole number/);
  });

  it('reads floats', () => {
    expect(parseGoFloat('0.5')).toBe(0.5);
    expect(parseGoFloat('5')).toBe(5);
    expect(() => parseGoFloat('five')).toThrow(/number/);
  });

  it('splits comma lists, trimming and dropping empty items', () => {
    expect(parseGoList('destHost,default')).toEqual(['destHost', 'default']);
    expect(parseGoList(' a , b ,')).toEqual(['a', 'b']);
    expect(parseGoList('')).toEqual([]);
  });
});

describe('TLS values', () => {
  it('maps VersionTLS1x to Node names, empty to TLS 1.2', () => {
    expect(parseTlsMinVersion('VersionTLS10')).toBe('TLSv1');
    expect(parseTlsMinVersion('VersionTLS11')).toBe('TLSv1.1');
    expect(parseTlsMinVersion('VersionTLS12')).toBe('TLSv1.2');
    expect(parseTlsMinVersion('VersionTLS13')).toBe('TLSv1.3');
    expect(parseTlsMinVersion('')).toBe('TLSv1.2');
    expect(() => parseTlsMinVersion('TLS1.2')).toThrow(/VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13/);
  });

  it("maps Go's secure suite names to OpenSSL names and drops TLS 1.3 names", () => {
    expect(
      parseCipherSuites([
        'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
        'TLS_AES_128_GCM_SHA256',
      ]),
    ).toEqual(['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305']);
  });

  it('refuses insecure and unknown suites by name', () => {
    expect(() => parseCipherSuites(['TLS_RSA_WITH_RC4_128_SHA'])).toThrow(/TLS_RSA_WITH_RC4_128_SHA is considered insecure/);
    expect(() => parseCipherSuites(['ECDHE-RSA-AES128-GCM-SHA256'])).toThrow(/ECDHE-RSA-AES128-GCM-SHA256 does not exist/);
  });
});

describe('suggestions', () => {
  it('finds a close flag name and nothing for a far one', () => {
    const names = ['agent-id', 'agent-identifiers', 'proxy-server-host'];
    expect(closest('agnet-id', names)).toBe('agent-id');
    expect(closest('proxy-sever-host', names)).toBe('proxy-server-host');
    expect(closest('completely-different', names)).toBeUndefined();
  });
});
