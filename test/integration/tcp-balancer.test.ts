/** The test load balancer itself: round-robin turns, backends added and removed, refusals and counts. */
import { afterEach, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { EchoTarget } from '../support/agent-peers.js';
import { TcpBalancer } from '../support/tcp-balancer.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Connects through the balancer; resolves with what the echo sent back, or 'closed' when the balancer closed it. */
function through(lb: TcpBalancer, text: string): Promise<{ sock: net.Socket; reply: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(lb.port, '127.0.0.1', () => sock.write(text));
    sock.on('error', () => undefined);
    sock.once('data', (d: Buffer) => resolve({ sock, reply: d.toString() }));
    sock.once('close', () => resolve({ sock, reply: 'closed' }));
  });
}

describe('TcpBalancer', () => {
  it('sends connections to the backends in turn, follows added and removed backends, and counts them', async () => {
    const [a, b] = [await EchoTarget.start(), await EchoTarget.start()];
    closers.push(() => a.close(), () => b.close());
    const lb = await TcpBalancer.start([a.port, b.port]);
    closers.push(() => lb.stop());

    const open = [];
    for (let i = 0; i < 4; i++) open.push(await through(lb, `hello ${i}`));
    expect(open.map((o) => o.reply)).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3']);
    expect([lb.counts(a.port), lb.counts(b.port)]).toEqual([
      { open: 2, total: 2, refused: 0 },
      { open: 2, total: 2, refused: 0 },
    ]);
    expect(a.sockets.size + b.sockets.size).toBe(4);

    lb.removeBackend(a.port, true); // out of the turn, its connections closed
    await new Promise((r) => setTimeout(r, 50));
    expect(lb.counts(a.port).open).toBe(0);
    expect(lb.counts(b.port).open).toBe(2);
    expect((await through(lb, 'only b')).reply).toBe('only b');
    expect(lb.counts(b.port).total).toBe(3);

    // A backend with nothing listening: the client connection is closed, counted as refused.
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise((r) => dead.close(r));
    lb.backends = [deadPort];
    expect((await through(lb, 'nobody')).reply).toBe('closed');
    expect(lb.counts(deadPort)).toEqual({ open: 0, total: 1, refused: 1 });

    lb.addBackend(a.port);
    lb.addBackend(a.port);
    expect(lb.backends).toEqual([deadPort, a.port]);
    for (const o of open) o.sock.destroy();
  });
});
