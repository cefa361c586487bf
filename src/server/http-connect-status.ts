/**
 * Status lines of the HTTP CONNECT frontend (anp-protocol.md section 4):
 * what a failed dial looks like to an HTTP client.
 */
import { TEXT } from '../protocol/index.js';
import type { DialFailure } from './frontend.js';

/** An error response: status code, reason phrase and text body. */
export interface HttpErrorResponse {
  status: number;
  reason: string;
  body: string;
}

/** The 200 after a successful dial, exactly as upstream sends it. */
export const CONNECT_ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function response(status: number, body: string): HttpErrorResponse {
  return { status, reason: REASONS[status] ?? 'Error', body };
}

/** An agent's DIAL_RSP error, by its text: timeouts 504, fd exhaustion 503, anything else 502. */
export function agentDialError(error: string): HttpErrorResponse {
  const e = error.toLowerCase();
  if (e.includes('timeout') || e.includes('deadline exceeded')) return response(504, error);
  if (e.includes('too many open files')) return response(503, error);
  return response(502, error);
}

/** A dial the server failed itself. */
export function serverDialError(f: DialFailure): HttpErrorResponse {
  switch (f.reason) {
    case 'no_agent':
      return response(500, TEXT.httpNoTunnels + TEXT.noAgent);
    case 'agent_lost':
      return response(502, TEXT.httpBackendContext + f.message);
    case 'backend_dial_timeout':
      return response(504, f.message);
    case 'bad_request':
      return response(400, f.message);
    case 'shutdown':
      return response(503, f.message);
    default:
      return response(502, f.message);
  }
}

/**
 * The bytes of an error response. The no-agent answer is byte for byte
 * upstream's; the others carry a UTF-8 text body. The body ends at close.
 */
export function errorResponseBytes(r: HttpErrorResponse): string {
  const type = r.status === 500 ? 'text/plain' : 'text/plain; charset=utf-8';
  const extra = r.status === 500 ? '' : 'Connection: close\r\n';
  return `HTTP/1.1 ${r.status} ${r.reason}\r\nContent-Type: ${type}\r\n${extra}\r\n${r.body}`;
}
