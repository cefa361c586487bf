/**
 * HTTP/2 flow-control tuning for grpc-js servers.
 *
 * grpc-js 1.14 offers window options for channels only
 * (`grpc-node.flow_control_window`); its servers always run with Node's
 * defaults: a 64 KiB stream window and a 64 KiB connection window (shared by
 * every stream of a connection). A bulk transfer then waits for a
 * WINDOW_UPDATE every 64 KiB.
 *
 * `tuneGrpcServer` hooks the one place where a grpc-js server creates its
 * Node HTTP/2 servers (the private `createHttp2Server`, used by `bindAsync`
 * and `createConnectionInjector` alike) and applies, through Node's public
 * API, the stream window (SETTINGS_INITIAL_WINDOW_SIZE, with
 * `Http2Server.updateSettings()`) and the connection window
 * (`Http2Session.setLocalWindowSize()` on every new session). Call it right
 * after `new grpc.Server()`, before binding. If a grpc-js upgrade removes the
 * hook, it throws H2TuningError at once (test/unit/transport/h2-tuning.test.ts
 * fails too, since it reads what the server advertises on the wire).
 *
 * Only ever raise the windows of ONE side of a connection. Node's HTTP/2
 * stops reading a connection while one of its writes is pending, so when both
 * peers are Node and both receive windows exceed what the sockets can buffer
 * (about 200 KiB on a Unix socket), traffic in both directions at once can
 * fill both sockets and stall the connection for good (bench/ shows it;
 * test/integration/e2e-cli-transfer.test.ts moves 8 MiB both ways at once).
 * With one side's window (Node's 64 KiB, or 128 KiB on a Unix socket whose
 * send buffer is 208 KiB) below what its peer's socket buffers, that peer
 * never blocks in a write, keeps reading, and the other side's writes always
 * complete. Frame size: Node sends DATA in
 * 16 KiB frames whatever the peer allows, so SETTINGS_MAX_FRAME_SIZE is left
 * at its default.
 */
import type * as grpc from '@grpc/grpc-js';
import type http2 from 'node:http2';

/** The HTTP/2 receive windows we apply. Sizes in bytes. */
export interface H2Tuning {
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a peer may send on one stream before our WINDOW_UPDATE. */
  streamWindow: number;
  /** Receive window of the whole connection (all streams together). */
  connectionWindow: number;
}

/** The hook is gone (a grpc-js upgrade changed its internals). */
export class H2TuningError extends Error {
  readonly code = 'ERR_H2_TUNING';
  constructor(message: string) {
    super(message);
    this.name = 'H2TuningError';
  }
}

type Http2AnyServer = http2.Http2Server | http2.Http2SecureServer;
interface Hookable {
  createHttp2Server?: (this: unknown, creds: grpc.ServerCredentials) => Http2AnyServer;
}

/** Applies `t` to every HTTP/2 connection `server` accepts from now on. */
export function tuneGrpcServer(server: grpc.Server, t: H2Tuning): void {
  hookHttp2Servers(server, (h2) => {
    h2.updateSettings({ initialWindowSize: t.streamWindow });
    h2.on('session', (session: http2.Http2Session) => tuneSession(session, t));
  });
}

/**
 * Tunes each connection of `server` once its first request arrived, with
 * what `choose` returns for it (undefined: Node's 64 KiB stays). The change
 * goes out as a SETTINGS frame (stream window, existing streams included)
 * and a WINDOW_UPDATE (connection window) right after that request. The
 * frontend uses it to give large windows only to peers known to keep reading
 * while they write (grpc-go), and a medium one to Node clients on a Unix
 * socket, whose buffer holds all of it (server/grpc-options.ts).
 */
export function tuneGrpcServerFor(
  server: grpc.Server,
  choose: (headers: http2.IncomingHttpHeaders, session: http2.Http2Session) => H2Tuning | undefined,
): void {
  const seen = new WeakSet<http2.Http2Session>();
  hookHttp2Servers(server, (h2) => {
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      const session = stream.session;
      if (!session || seen.has(session)) return;
      seen.add(session);
      if (session.destroyed) return;
      const t = choose(headers, session);
      if (!t) return;
      try {
        session.settings({ initialWindowSize: t.streamWindow });
        session.setLocalWindowSize(t.connectionWindow);
      } catch {
        // The session is being torn down; nothing to tune.
      }
    });
  });
}

/** Marks a socket as a Unix-socket client's (before it is handed to Node's HTTP/2), for isUnixClient. */
const UNIX_CLIENT = Symbol('tunnel.unixClient');

export function markUnixClient(socket: object): void {
  (socket as { [UNIX_CLIENT]?: true })[UNIX_CLIENT] = true;
}

/** True for a session over a socket markUnixClient marked (Node's session.socket forwards property reads to it). */
export function isUnixClient(session: http2.Http2Session): boolean {
  try {
    return (session.socket as unknown as { [UNIX_CLIENT]?: true })[UNIX_CLIENT] === true;
  } catch {
    return false; // no socket any more
  }
}

/** grpc-go's user agent (`grpc-go/1.62.1`, possibly after an application's own): kube-apiserver, upstream clients. */
export function isGrpcGo(headers: http2.IncomingHttpHeaders): boolean {
  const ua = headers['user-agent'];
  return typeof ua === 'string' && /(^|\s)grpc-go\/\d/.test(ua);
}

/** Calls `tune` on every Node HTTP/2 server `server` creates from now on. */
function hookHttp2Servers(server: grpc.Server, tune: (h2: Http2AnyServer) => void): void {
  const s = server as unknown as Hookable;
  const create = s.createHttp2Server;
  if (typeof create !== 'function') {
    throw new H2TuningError('grpc-js has no createHttp2Server any more: HTTP/2 windows cannot be tuned (see src/transport/h2-tuning.ts)');
  }
  s.createHttp2Server = function (this: unknown, creds: grpc.ServerCredentials): Http2AnyServer {
    const h2 = create.call(this, creds);
    tune(h2);
    return h2;
  };
}

/** Raises a session's connection window (Node ≥ 15.3). Safe on a session that is already closing. */
export function tuneSession(session: http2.Http2Session, t: Pick<H2Tuning, 'connectionWindow'>): void {
  if (session.destroyed) return;
  try {
    session.setLocalWindowSize(t.connectionWindow);
  } catch {
    // The session is being torn down; nothing to tune.
  }
}
