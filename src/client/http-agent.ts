/**
 * Node http/https agents whose connections go through a tunnel: each new
 * connection is `tunnel.dial("host:port")` of the request, and for https a
 * TLS session on top of that socket (end-to-end TLS: the tunnel never sees
 * the plaintext). Keep-alive works as with Node's own agents: idle sockets
 * are reused, each one a single connection through the tunnel.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { DialOptions } from './options.js';

/**
 * What the agents dial through: a Tunnel, or anything else with its dial()
 * (the agent's pull mode uses these agents too).
 */
export interface TunnelDialer {
  dial(address: string, opts?: DialOptions): Promise<Duplex>;
}

/** What the tunnel agents add to Node's agent options. */
export interface TunnelAgentExtras {
  /**
   * Maps a request's host and port to the address dialed through the tunnel.
   * Default: "host:port" ("[v6]:port" for IPv6 literals). Use it to reach a
   * name the agent resolves on its side, e.g. `() => 'my-cluster:6443'`.
   */
  dialAddress?: (host: string, port: number) => string;
  /** Per-dial deadline in ms (DialError reason `context`). Default: the tunnel's backstop only. */
  dialTimeoutMs?: number;
}

/** Options of createHttpAgent(): Node's http.AgentOptions plus the tunnel extras. */
export type TunnelHttpAgentOptions = http.AgentOptions & TunnelAgentExtras;

/** Options of createHttpsAgent(): Node's https.AgentOptions (ca, cert, key, servername, ...) plus the tunnel extras. */
export type TunnelHttpsAgentOptions = https.AgentOptions & TunnelAgentExtras;

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

/**
 * An http.Agent that connects through the tunnel.
 *
 * @example
 * const agent = createHttpAgent(tunnel, { keepAlive: true });
 * http.get('http://10.0.0.7:8080/healthz', { agent }, (res) => ...);
 */
export function createHttpAgent(tunnel: TunnelDialer, opts: TunnelHttpAgentOptions = {}): http.Agent {
  const { dialAddress, dialTimeoutMs, ...agentOptions } = opts;
  const dial = dialer(tunnel, { dialAddress, dialTimeoutMs }, 80);
  class TunnelHttpAgent extends http.Agent {
    override createConnection(options: http.ClientRequestArgs, cb?: ConnectCallback): Duplex | null | undefined {
      dial(options).then(
        (socket) => cb?.(null, socket),
        (err: Error) => cb?.(err, undefined as unknown as Duplex),
      );
      return undefined;
    }
  }
  return new TunnelHttpAgent(agentOptions);
}

/**
 * An https.Agent that runs TLS over sockets of the tunnel. TLS options
 * (ca, cert, key, servername, rejectUnauthorized, ...) are those of Node's
 * https.Agent and are checked against the remote server, not the tunnel.
 *
 * @example
 * const agent = createHttpsAgent(tunnel, { ca: clusterCA, keepAlive: true });
 * https.get('https://my-cluster:6443/version', { agent }, (res) => ...);
 */
export function createHttpsAgent(tunnel: TunnelDialer, opts: TunnelHttpsAgentOptions = {}): https.Agent {
  const { dialAddress, dialTimeoutMs, ...agentOptions } = opts;
  const dial = dialer(tunnel, { dialAddress, dialTimeoutMs }, 443);
  class TunnelHttpsAgent extends https.Agent {
    override createConnection(options: https.RequestOptions, cb?: ConnectCallback): Duplex | null | undefined {
      dial(options).then(
        (socket) => {
          let tlsSocket: Duplex | null | undefined;
          try {
            // Node's own https createConnection: tls.connect over our socket, with TLS session reuse.
            tlsSocket = super.createConnection({ ...options, socket } as https.RequestOptions);
          } catch (e) {
            socket.destroy();
            cb?.(e as Error, undefined as unknown as Duplex);
            return;
          }
          if (tlsSocket) cb?.(null, tlsSocket);
        },
        (err: Error) => cb?.(err, undefined as unknown as Duplex),
      );
      return undefined;
    }
  }
  return new TunnelHttpsAgent(agentOptions);
}

/** Turns a request's connection options into a tunnel dial. */
function dialer(
  tunnel: TunnelDialer,
  extras: TunnelAgentExtras,
  defaultPort: number,
): (options: http.ClientRequestArgs) => Promise<Duplex> {
  return (options) => {
    const host = String(options.hostname ?? options.host ?? 'localhost');
    const port = Number(options.port ?? options.defaultPort ?? defaultPort);
    const address = extras.dialAddress ? extras.dialAddress(host, port) : joinHostPort(host, port);
    const dialOpts: DialOptions = {};
    if (extras.dialTimeoutMs !== undefined) dialOpts.timeoutMs = extras.dialTimeoutMs;
    if (options.signal) dialOpts.signal = options.signal;
    return tunnel.dial(address, dialOpts);
  };
}

/** "host:port", with brackets around IPv6 literals. */
export function joinHostPort(host: string, port: number): string {
  const h = host.startsWith('[') ? host.slice(1, -1) : host;
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}
