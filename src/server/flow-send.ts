/**
 * Client DATA on its way to the agent, with or without per-connection flow
 * control. Without it (an upstream agent) a packet goes out at once and the
 * client waits only while the shared agent stream is full. With it, a packet
 * goes out within the connection's credit, split when less is left; the rest
 * follows as grants arrive, and meanwhile the client is not read (its Proxy
 * stream or CONNECT socket pushes back), never the other connections.
 */
import { data, type DataPacket } from '../protocol/index.js';
import type { Backend } from './backend.js';
import type { ClientSession } from './session.js';

/** Makes `p` the session's pending client work until it settles; returns it. */
export function inOrder(s: ClientSession, p: Promise<void>): Promise<void> {
  const tracked: Promise<void> = p.finally(() => {
    if (s.sending === tracked) s.sending = undefined;
  });
  s.sending = tracked;
  return tracked;
}

/** Sends the client's DATA of an established session; resolves (if it returns a promise) when the client may send more. */
export function sendClientData(s: ClientSession, b: Backend, p: DataPacket): Promise<void> | undefined {
  const flow = s.flow;
  const bytes = p.data.data;
  if (flow) {
    const n = flow.take(bytes.length);
    if (n < bytes.length) {
      const room = n === 0 || b.send(data(p.data.connectID, bytes.subarray(0, n)));
      return inOrder(s, sendRest(s, b, p.data.connectID, bytes, n, room));
    }
  }
  return !b.send(p) && !b.stream.closed ? b.drained() : undefined;
}

/** Sends bytes[off..] as credit comes; drops them if the connection goes away first. */
async function sendRest(s: ClientSession, b: Backend, connectID: bigint, bytes: Uint8Array, off: number, room: boolean): Promise<void> {
  const flow = s.flow!;
  if (!room && !b.stream.closed) await b.drained();
  while (off < bytes.length) {
    if (flow.closed || s.state !== 'established' || b.stream.closed) return;
    const n = flow.take(bytes.length - off);
    if (n === 0) {
      await flow.waitForCredit();
      continue;
    }
    const room = b.send(data(connectID, bytes.subarray(off, off + n)));
    off += n;
    if (!room && !b.stream.closed) await b.drained();
  }
}
