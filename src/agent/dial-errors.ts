/**
 * Endpoint dial failures worded the way Go's net.Dial words them, since
 * upstream servers and clients show (and HTTP-CONNECT frontends match on) the
 * DIAL_RSP error text: "dial tcp 127.0.0.1:1: connect: connection refused".
 */
import type { AgentDialFailureReason } from '../observability/metrics.js';
import { DialError } from './errors.js';
import { HostPortError, joinHostPort, splitHostPort } from './host-port.js';

/** The DIAL_RSP error text and the endpoint_dial_failure_total reason of a failed dial. */
export interface DialFailure {
  text: string;
  reason: AgentDialFailureReason;
}

/** Go's strerror words for the errno codes a TCP dial can meet (syscall/zerrors_linux). */
export const ERRNO_TEXT: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ECONNABORTED: 'software caused connection abort',
  EHOSTUNREACH: 'no route to host',
  EHOSTDOWN: 'host is down',
  ENETUNREACH: 'network is unreachable',
  ENETDOWN: 'network is down',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EADDRINUSE: 'address already in use',
  EAFNOSUPPORT: 'address family not supported by protocol',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in system',
  ENOBUFS: 'no buffer space available',
  EINVAL: 'invalid argument',
  EPIPE: 'broken pipe',
});

/** getaddrinfo failures, worded as Go's resolver does. */
const LOOKUP_TEXT: Readonly<Record<string, string>> = Object.freeze({
  ENOTFOUND: 'no such host',
  EAI_NONAME: 'no such host',
  EAI_NODATA: 'no such host',
  ENODATA: 'no such host',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
});

interface NodeSysError {
  code?: string;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
  message?: string;
  errors?: unknown[];
}

/**
 * Words a dial failure like Go. `address` is the requested "host:port";
 * `protocol` the DIAL_REQ protocol (normally "tcp").
 */
export function describeDialError(err: unknown, address: string, protocol = 'tcp'): DialFailure {
  const net = protocol === '' ? 'tcp' : protocol;
  if (err instanceof DialError) return describeOwn(err, address, net);
  if (err instanceof HostPortError) return { text: `dial ${net}: ${err.message}`, reason: 'unknown' };
  let e = (err ?? {}) as NodeSysError;
  // Happy-eyeballs failures arrive as an AggregateError: the last attempt is what Go would report.
  if (Array.isArray(e.errors) && e.errors.length > 0 && !e.syscall) e = e.errors[e.errors.length - 1] as NodeSysError;
  const code = e.code ?? '';
  if (code === 'ABORT_ERR') return { text: `dial ${net} ${address}: operation was canceled`, reason: 'unknown' };
  const lookup = LOOKUP_TEXT[code];
  if (lookup !== undefined || e.syscall === 'getaddrinfo') {
    const host = e.hostname ?? hostOf(address);
    return { text: `dial ${net}: lookup ${host}: ${lookup ?? code}`, reason: 'unknown' };
  }
  const words = ERRNO_TEXT[code];
  if (words !== undefined) {
    const where = e.address !== undefined && e.port !== undefined ? joinHostPort(e.address, e.port) : address;
    const syscall = e.syscall ? `${e.syscall}: ` : '';
    return {
      text: `dial ${net} ${where}: ${syscall}${words}`,
      reason: code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : 'unknown',
    };
  }
  const msg = e.message ?? String(err);
  return { text: `dial ${net} ${address}: ${msg}`, reason: 'unknown' };
}

function describeOwn(err: DialError, address: string, net: string): DialFailure {
  switch (err.code) {
    case 'ERR_DIAL_TIMEOUT':
      if (err.details.lookupPending) return { text: `dial ${net}: lookup ${hostOf(address)}: i/o timeout`, reason: 'timeout' };
      return { text: `dial ${net} ${err.details.resolvedAddress ?? address}: i/o timeout`, reason: 'timeout' };
    case 'ERR_DIAL_ADDRESS':
      return { text: `dial ${net}: ${err.message}`, reason: 'unknown' };
    case 'ERR_DIAL_PROTOCOL':
      return { text: `dial ${net}: unknown network ${net}`, reason: 'unknown' };
    case 'ERR_DIAL_ABORTED':
      return { text: `dial ${net} ${address}: operation was canceled`, reason: 'unknown' };
    case 'ERR_DIAL_NOT_ALLOWED':
      return { text: err.message, reason: 'not_allowed' };
    default:
      return { text: err.message, reason: 'unknown' };
  }
}

function hostOf(address: string): string {
  try {
    return splitHostPort(address).host;
  } catch {
    return address;
  }
}
