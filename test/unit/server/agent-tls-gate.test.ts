/**
 * The agent port's TLS gate (src/server/agent-tls-gate.ts) hooks a private
 * grpc-js method: it must fail loudly, not silently stop refusing, when a
 * grpc-js upgrade takes the hook away or no longer serves HTTP/2 from a TLS
 * server's 'secureConnection'. What it does on the wire is in
 * test/integration/handshake-refusals.test.ts. Also: Node's verification
 * codes in the operator's words.
 */
import { describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry, ServerMetrics } from '../../../src/observability/metrics.js';
import { AgentTlsGateError, describeCertificateRefusal, gateAgentTls } from '../../../src/server/agent-tls-gate.js';

const deps = (clientCerts: 'require' | 'request' | 'none') => ({
  logger: silentLogger(),
  metrics: new ServerMetrics(newRegistry(false)),
  clientCerts,
});

describe('gateAgentTls', () => {
  it('throws at once when grpc-js has no createHttp2Server any more', () => {
    const server = new grpc.Server();
    Object.defineProperty(server, 'createHttp2Server', { value: undefined });
    expect(() => gateAgentTls(server, deps('request'))).toThrow(AgentTlsGateError);
    expect(() => gateAgentTls(server, deps('require'))).toThrow(/createHttp2Server/);
  });

  it('the hook is where grpc-js 1.x has it (a method of grpc.Server)', () => {
    expect(typeof (new grpc.Server() as unknown as { createHttp2Server?: unknown }).createHttp2Server).toBe('function');
    expect(() => gateAgentTls(new grpc.Server(), deps('request'))).not.toThrow();
  });

  it('throws when the server grpc-js creates is not a TLS server serving HTTP/2 from secureConnection', () => {
    const server = new grpc.Server();
    Object.defineProperty(server, 'createHttp2Server', { value: () => http2.createServer(), writable: true });
    gateAgentTls(server, deps('request'));
    const hooked = (server as unknown as { createHttp2Server: () => unknown }).createHttp2Server;
    expect(() => hooked()).toThrow(AgentTlsGateError);
  });

  it('without client certificates there is nothing to gate', () => {
    const server = new grpc.Server();
    Object.defineProperty(server, 'createHttp2Server', { value: undefined });
    expect(() => gateAgentTls(server, deps('none'))).not.toThrow();
  });
});

describe('describeCertificateRefusal', () => {
  const cert = { valid_from: 'Nov 27 01:24:49 2026 GMT', valid_to: 'Nov 25 01:24:49 2026 GMT' };
  it('names the dates when the certificate is there', () => {
    expect(describeCertificateRefusal('CERT_HAS_EXPIRED', cert)).toEqual({ reason: 'tls_cert_expired', words: 'expired at 2026-11-25T01:24:49.000Z' });
    expect(describeCertificateRefusal('CERT_NOT_YET_VALID', cert)).toEqual({
      reason: 'tls_cert_not_yet_valid',
      words: "not valid until 2026-11-27T01:24:49.000Z by this server's clock: check clock synchronisation of the agent's cluster and the server",
    });
  });
  it('foreign CAs, self-signed certificates; anything else by its code', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN']) {
      expect(describeCertificateRefusal(code, undefined, 'the CA of --cluster-ca-cert')).toEqual({
        reason: 'tls_cert_untrusted',
        words: `not signed by the CA of --cluster-ca-cert (${code})`,
      });
    }
    expect(describeCertificateRefusal('INVALID_PURPOSE')).toEqual({ reason: 'tls_cert_invalid', words: 'failed verification (INVALID_PURPOSE)' });
    expect(describeCertificateRefusal('CERT_HAS_EXPIRED').words).toBe('expired');
  });
});
