/**
 * DIAL_REQ and DIAL_CLS on one server stream. Dials run asynchronously, so a
 * slow or blackholed destination never holds up the receive loop. Every dial
 * ends in exactly one outcome: a DIAL_RSP (success or a Go-like error),
 * or silence when DIAL_CLS cancelled it or the stream closed.
 *
 * DIAL_CLS (which upstream agents ignore) cancels a dial in progress without
 * a reply, since the server already forgot it; for a dial that already
 * completed it closes the connection and sends CLOSE_RSP, so the race of
 * upstream #404 leaks nothing.
 */
import type { Duplex } from 'node:stream';
import { dialRsp, dialRspError, type DialRequest } from '../protocol/index.js';
import { TIMING } from './defaults.js';
import { describeDialError } from './dial-errors.js';
import { DialError } from './errors.js';
import type { PendingDial, SessionContext } from './session-context.js';

/** Protocols the agent dials (Go's names for TCP). */
export const TCP_PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'tcp4', 'tcp6', '']);

/** Handles a DIAL_REQ: refuses it at once or starts the dial. */
export function startDial(ctx: SessionContext, req: DialRequest): void {
  const { random, address } = req;
  const protocol = req.protocol === '' ? 'tcp' : req.protocol;
  const log = ctx.log.child({ dialID: random });
  const refuse = (err: DialError): void => {
    const f = describeDialError(err, address, protocol);
    ctx.metrics.endpointDialFailures.inc({ reason: f.reason });
    log.info('endpoint dial refused', { address, error: f.text });
    ctx.send(dialRspError(random, f.text));
  };
  if (ctx.pending.has(random) || ctx.byRandom.has(random)) {
    ctx.badInput('duplicate_dial_id', { dialID: random });
    refuse(new DialError('ERR_DIAL_REFUSED', `dial id ${random} is already in use on this stream`));
    return;
  }
  if (!TCP_PROTOCOLS.has(protocol)) {
    refuse(new DialError('ERR_DIAL_PROTOCOL', `unknown network ${protocol}`));
    return;
  }
  if (ctx.pending.size >= ctx.limits.maxPendingDials) {
    refuse(new DialError('ERR_DIAL_REFUSED', `too many dials in progress on this agent stream (${ctx.pending.size}); try again later`));
    return;
  }

  const dial: PendingDial = {
    random,
    connectID: ctx.nextConnectID(),
    address,
    protocol,
    startedAt: ctx.clock.now(),
    controller: new AbortController(),
    timer: undefined,
    settled: false,
    log,
  };
  ctx.pending.set(random, dial);
  // The dialer enforces timeoutMs itself; this guard answers even if a custom dialer does not.
  dial.timer = ctx.clock.setTimeout(() => {
    if (dial.settled) return;
    fail(ctx, dial, new DialError('ERR_DIAL_TIMEOUT', `dial to ${address} timed out`));
    dial.controller.abort();
  }, ctx.dialTimeoutMs + TIMING.dialGuardGraceMs);
  log.debug('dialing endpoint', { address, connectID: dial.connectID });

  let dialing: Promise<Duplex>;
  try {
    dialing = ctx.dialer(address, { timeoutMs: ctx.dialTimeoutMs, signal: dial.controller.signal });
  } catch (e) {
    dialing = Promise.reject(e as Error); // a dialer that throws instead of rejecting
  }
  dialing.then(
    (socket) => {
      if (dial.settled) {
        socket.destroy();
        return;
      }
      settle(ctx, dial);
      ctx.metrics.dialDuration.observe((ctx.clock.now() - dial.startedAt) / 1000);
      const conn = ctx.adopt(socket, dial);
      ctx.send(dialRsp(random, dial.connectID));
      conn.start();
      log.debug('endpoint connected', { address, connectID: dial.connectID });
    },
    (err: unknown) => {
      if (!dial.settled) fail(ctx, dial, err);
    },
  );
}

/** Handles a DIAL_CLS: cancels the dial, or closes the connection it produced. */
export function cancelDial(ctx: SessionContext, random: bigint): void {
  const dial = ctx.pending.get(random);
  if (dial) {
    settle(ctx, dial);
    dial.controller.abort();
    dial.log.debug('dial cancelled by DIAL_CLS', { address: dial.address });
    return;
  }
  const connectID = ctx.byRandom.get(random);
  const conn = connectID === undefined ? undefined : ctx.conns.get(connectID);
  if (conn) {
    conn.closeWithResponse('dial closed by server (DIAL_CLS)');
    return;
  }
  ctx.log.debug('DIAL_CLS for an unknown dial id ignored', { dialID: random });
}

/** Cancels every dial in progress without answering (the stream is closing). */
export function abortAllDials(ctx: SessionContext): void {
  for (const dial of [...ctx.pending.values()]) {
    settle(ctx, dial);
    dial.controller.abort();
  }
}

function fail(ctx: SessionContext, dial: PendingDial, err: unknown): void {
  settle(ctx, dial);
  const f = describeDialError(err, dial.address, dial.protocol);
  ctx.metrics.endpointDialFailures.inc({ reason: f.reason });
  dial.log.info('endpoint dial failed', { address: dial.address, error: f.text });
  ctx.send(dialRspError(dial.random, f.text));
}

function settle(ctx: SessionContext, dial: PendingDial): void {
  dial.settled = true;
  ctx.clock.clearTimeout(dial.timer);
  ctx.pending.delete(dial.random);
}
