/**
 * Refusals of agent certificates at the TLS layer of the agent port.
 *
 * In csr mode the agent port must let an agent in without a client
 * certificate (it bootstraps with a ServiceAccount token), so its TLS asks
 * for a certificate (requestCert) without rejecting one that fails
 * verification (rejectUnauthorized would also refuse the token-only agents).
 * Node then completes the handshake of an expired, not-yet-valid or
 * foreign-CA certificate, and grpc-js would serve HTTP/2 on it. The gate cuts
 * such a connection off right after the handshake, before a single HTTP/2
 * byte: a client that PRESENTS a certificate that does not verify is
 * refused; one that presents none still passes (and needs a token at
 * Connect).
 *
 * With --cluster-ca-cert (`require`), Node itself closes such a handshake and
 * tells no one but the client; the gate adds the server-side log line and the
 * metric ('tlsClientError').
 *
 * Where: like h2-tuning.ts, the gate wraps grpc-js's private
 * `createHttp2Server` (the one place a grpc-js server creates its Node
 * HTTP/2 servers) and, on the Http2SecureServer it returns, intercepts the
 * 'secureConnection' event Node's TLS server emits after a handshake: a
 * refused socket is destroyed and the event never reaches Node's HTTP/2
 * connection listener (nor grpc-js's). Intercepting the emit rather than
 * adding a listener keeps the order of listeners irrelevant. If a grpc-js
 * upgrade removes the hook or no longer serves HTTP/2 from 'secureConnection',
 * gateAgentTls / the bind throws AgentTlsGateError
 * (test/integration/handshake-refusals.test.ts fails as well).
 */
import type * as grpc from '@grpc/grpc-js';
import type http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import type { ClientCertMode } from './agent-credentials.js';

/** The hook is gone (a grpc-js or Node upgrade changed their internals). */
export class AgentTlsGateError extends Error {
  readonly code = 'ERR_AGENT_TLS_GATE';
  constructor(message: string) {
    super(message);
    this.name = 'AgentTlsGateError';
  }
}

/** What the gate needs. */
export interface AgentTlsGateDeps {
  logger: Logger;
  metrics: Pick<ServerMetrics, 'badInput'>;
  /** The agent port's client certificate mode; `none` needs no gate. */
  clientCerts: ClientCertMode;
  /** What the agent port trusts, in the operator's words (default "the tunnel CA"). */
  trustedCa?: string;
}

/** bad_input_total reasons (source `agent`) of a certificate refused at the TLS layer. */
export type TlsRefusalReason = 'tls_cert_expired' | 'tls_cert_not_yet_valid' | 'tls_cert_untrusted' | 'tls_cert_invalid' | 'tls_no_certificate' | 'tls_handshake';

/** Why a certificate failed verification, in words, and its metric reason. */
export interface CertificateRefusal {
  reason: TlsRefusalReason;
  /** What is wrong, for the operator. */
  words: string;
}

/** OpenSSL verification errors that mean "not issued by a CA we trust". */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/**
 * Puts Node's `socket.authorizationError` (an OpenSSL verification code) in
 * words. `cert` (the peer certificate, when there still is one) adds the dates.
 */
export function describeCertificateRefusal(code: string, cert?: { valid_from?: string; valid_to?: string }, trustedCa = 'the tunnel CA'): CertificateRefusal {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { reason: 'tls_cert_expired', words: cert?.valid_to ? `expired at ${isoDate(cert.valid_to)}` : 'expired' };
    case 'CERT_NOT_YET_VALID':
      return {
        reason: 'tls_cert_not_yet_valid',
        words: `${cert?.valid_from ? `not valid until ${isoDate(cert.valid_from)}` : 'not valid yet'} by this server's clock: check clock synchronisation of the agent's cluster and the server`,
      };
    default:
      if (UNTRUSTED.has(code)) return { reason: 'tls_cert_untrusted', words: `not signed by ${trustedCa} (${code})` };
      return { reason: 'tls_cert_invalid', words: `failed verification (${code})` };
  }
}

/** Node's certificate date ("Nov 25 01:24:49 2026 GMT") as ISO 8601; unchanged when unparsable. */
function isoDate(s: string): string {
  const t = Date.parse(s);
  return Number.isNaN(t) ? s : new Date(t).toISOString();
}

type Http2AnyServer = http2.Http2Server | http2.Http2SecureServer;
interface Hookable {
  createHttp2Server?: (this: unknown, creds: grpc.ServerCredentials) => Http2AnyServer;
}
type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Installs the gate on `server` (call it right after `new grpc.Server()`,
 * before binding). Does nothing when the port asks for no client certificate.
 */
export function gateAgentTls(server: grpc.Server, deps: AgentTlsGateDeps): void {
  if (deps.clientCerts === 'none') return;
  const s = server as unknown as Hookable;
  const create = s.createHttp2Server;
  if (typeof create !== 'function') {
    throw new AgentTlsGateError('grpc-js has no createHttp2Server any more: agent certificates cannot be refused at the TLS layer (see src/server/agent-tls-gate.ts)');
  }
  s.createHttp2Server = function (this: unknown, creds: grpc.ServerCredentials): Http2AnyServer {
    const h2 = create.call(this, creds);
    if (!(h2 instanceof tls.Server) || h2.listenerCount('secureConnection') === 0) {
      h2.close();
      throw new AgentTlsGateError(
        'grpc-js no longer serves the agent port from a TLS server\'s secureConnection event: agent certificates cannot be refused at the TLS layer (see src/server/agent-tls-gate.ts)',
      );
    }
    installGate(h2, deps);
    return h2;
  };
}

function installGate(h2: tls.Server, deps: AgentTlsGateDeps): void {
  const { logger, metrics } = deps;
  const trustedCa = deps.trustedCa ?? 'the tunnel CA';
  const log = (peer: string, r: CertificateRefusal, fields: Record<string, unknown>): void => {
    metrics.badInput.inc({ source: 'agent', reason: r.reason });
    logger.warn('agent certificate refused in the TLS handshake', { peer, ...fields, error: r.words });
  };

  if (deps.clientCerts === 'request') {
    const refuse = (socket: tls.TLSSocket): boolean => {
      if (socket.authorized) return false;
      const cert = socket.getPeerCertificate();
      // No certificate at all: a bootstrap agent, authenticated by its token at Connect.
      if (!cert || Object.keys(cert).length === 0) return false;
      const code = String(socket.authorizationError ?? 'UNSPECIFIED');
      const cn = cert.subject?.CN;
      log(`${socket.remoteAddress}:${socket.remotePort}`, describeCertificateRefusal(code, cert, trustedCa), {
        subject: `CN=${Array.isArray(cn) ? cn.join(',') : (cn ?? '')}`,
        serial: cert.serialNumber,
        code,
      });
      socket.on('error', () => undefined);
      socket.destroy();
      return true;
    };
    const emit = (h2 as unknown as { emit: Emit }).emit;
    (h2 as unknown as { emit: Emit }).emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'secureConnection' && refuse(args[0] as tls.TLSSocket)) return true;
      return emit.call(this, event, ...args);
    };
  }

  // Handshakes Node refuses itself (with `require`: a certificate that does not verify, or none).
  // The socket is gone by then: its address is kept by its transport socket (cached on 'connection').
  h2.prependListener('connection', (raw: net.Socket) => {
    void raw.remoteAddress;
    void raw.remotePort;
  });
  h2.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    const parent = (socket as unknown as { _parent?: net.Socket })._parent;
    const address = socket.remoteAddress ?? parent?.remoteAddress;
    const peer = address ? `${address}:${socket.remotePort ?? parent?.remotePort}` : 'unknown';
    const code = socket.authorizationError ? String(socket.authorizationError) : undefined;
    if (code) {
      log(peer, describeCertificateRefusal(code, undefined, trustedCa), { code });
    } else if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') {
      log(peer, { reason: 'tls_no_certificate', words: `no client certificate presented (this agent port requires one of ${trustedCa})` }, {});
    } else if (err.code === 'ECONNRESET') {
      // Closed before the handshake ended: TCP health checks, port scans, clients that gave up.
      logger.debug('agent TLS connection closed during the handshake', { peer });
    } else {
      metrics.badInput.inc({ source: 'agent', reason: 'tls_handshake' });
      logger.warn('agent TLS handshake failed', { peer, error: err.message });
    }
  });
}
