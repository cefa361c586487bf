/**
 * HTTP/1.x requests on the frontend socket: reads the request head, answers
 * anything but CONNECT with 405 as upstream does, and hands CONNECT to the
 * CONNECT frontend.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import type { ServerMetrics } from '../observability/metrics.js';
import { TEXT } from '../protocol/index.js';
import type { Clock } from './clock.js';
import { readRequestHead, type RequestHead, respondAndClose } from './http-head.js';

/** Serves one CONNECT request whose head was read. */
export type ConnectHandler = (socket: Duplex, head: RequestHead, peer: string) => void;

/** What the HTTP/1 handler needs. */
export interface Http1Deps {
  logger: Logger;
  metrics: ServerMetrics;
  clock: Clock;
  /** Upstream ReadHeaderTimeout: the whole head must arrive within it. */
  headerTimeoutMs: number;
  /** Largest accepted request head. */
  maxHeaderBytes: number;
  /** Serves CONNECT requests. */
  connect: ConnectHandler;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** Builds the handler the frontend sniffer gives HTTP/1.x sockets to. */
export function makeHttp1Handler(deps: Http1Deps): (socket: Duplex, peer: string) => void {
  return (socket, peer) => {
    void readRequestHead(socket, {
      timeoutMs: deps.headerTimeoutMs,
      maxBytes: deps.maxHeaderBytes,
      clock: deps.clock,
    }).then((head) => {
      if ('status' in head) {
        deps.metrics.badInput.inc({ source: 'http', reason: head.reason });
        if (head.reason !== 'eof') deps.logger.warn('bad HTTP request', { peer, error: head.message });
        if (head.status === 0) socket.destroy();
        else respondAndClose(socket, head.status, STATUS_TEXT[head.status]!, head.message + '\n');
        return;
      }
      if (head.method !== 'CONNECT') {
        deps.logger.debug('refusing non-CONNECT request', { peer, method: head.method });
        respondAndClose(socket, 405, 'Method Not Allowed', TEXT.httpOnlyConnect + '\n');
        return;
      }
      deps.connect(socket, head, peer);
    });
  };
}
