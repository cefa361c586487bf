/**
 * TLS flag values in upstream's (Go crypto/tls) vocabulary, mapped to what
 * Node's tls module takes: `--tls-min-version=VersionTLS12` → 'TLSv1.2',
 * `--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` →
 * 'ECDHE-RSA-AES128-GCM-SHA256'.
 */
import type { ServerConfig } from '../server/config.js';

export type NodeTlsVersion = ServerConfig['tlsMinVersion'];

/** Go names accepted by --tls-min-version, with Node's name for each. */
export const TLS_VERSIONS: Readonly<Record<string, NodeTlsVersion>> = {
  VersionTLS10: 'TLSv1',
  VersionTLS11: 'TLSv1.1',
  VersionTLS12: 'TLSv1.2',
  VersionTLS13: 'TLSv1.3',
};

/** Maps a --tls-min-version value; '' means TLS 1.2 (upstream default). */
export function parseTlsMinVersion(text: string): NodeTlsVersion {
  if (text === '') return 'TLSv1.2';
  const v = TLS_VERSIONS[text];
  if (v === undefined) throw new Error(`expected one of ${Object.keys(TLS_VERSIONS).join(', ')}`);
  return v;
}

/**
 * Go's secure TLS 1.2 suites (crypto/tls CipherSuites()) and their OpenSSL
 * names. The RSA key exchange suites are listed there too and are accepted as
 * upstream accepts them.
 */
export const TLS12_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};

/** TLS 1.3 suites: accepted, but as upstream they change nothing (TLS 1.3 suites are not configurable there). */
export const TLS13_SUITES: readonly string[] = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Go's InsecureCipherSuites(): refused, as upstream refuses them. */
export const INSECURE_SUITES: readonly string[] = [
  'TLS_RSA_WITH_RC4_128_SHA',
  'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
  'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
];

/**
 * Maps --cipher-suites names to OpenSSL names for TLS 1.2 and below. TLS 1.3
 * names are accepted and dropped. Throws on the first insecure or unknown name.
 */
export function parseCipherSuites(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const openssl = TLS12_SUITES[name];
    if (openssl !== undefined) {
      if (!out.includes(openssl)) out.push(openssl);
    } else if (TLS13_SUITES.includes(name)) {
      continue;
    } else if (INSECURE_SUITES.includes(name)) {
      throw new Error(`cipher suite ${name} is considered insecure and is not supported`);
    } else {
      throw new Error(
        `cipher suite ${name} does not exist; use Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (see --help)`,
      );
    }
  }
  return out;
}
