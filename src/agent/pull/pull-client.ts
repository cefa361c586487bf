/**
 * The agent's in-process pull API: `dial(name)` gives a Duplex connected to
 * the server-side target NAME, over a Pull stream on one of the agent's
 * server connections. The client library's pieces do the protocol work
 * (ProxyConnection for one stream's DIAL/DATA/CLOSE, TunnelSocket for the
 * Duplex), so pull connections behave exactly like push client connections;
 * this file chooses the server, retries on another one when a server is gone
 * or lacks pull, turns failures into PullErrors with stable codes, and keeps
 * the metrics. httpAgent()/httpsAgent() and kubeConfig() build on dial().
 */
import * as grpc from '@grpc/grpc-js';
import type http from 'node:http';
import type https from 'node:https';
import { createHttpAgent, createHttpsAgent, type TunnelDialer } from '../../client/http-agent.js';
import { ProxyConnection } from '../../client/connection.js';
import { DialError } from '../../client/errors.js';
import type { ClientTimers, DialOptions } from '../../client/options.js';
import { TunnelSocket } from '../../client/tunnel-socket.js';
import type { TunnelKubeConfig } from '../../client/kube.js';
import type { Logger } from '../../observability/logger.js';
import { OTHER_TARGET, type PullMetrics, type PullResult } from '../../observability/pull-metrics.js';
import { randomDialID } from '../../protocol/index.js';
import { GrpcPacketStream, StreamClosedError } from '../../transport/packet-stream.js';
import { parsePullErrorText, PullError, type PullErrorCode } from '../../transport/pull-errors.js';
import { parsePullAddress, pullServiceDefinition } from '../../transport/pull-service.js';
import type { MetaKubeSettings } from './config.js';
import { PULL_TIMING } from './defaults.js';
import type { MetaKubeOptions } from './meta-kube.js';
import type { PullPoolStatus, PullServer, PullServers } from './server-pool.js';

/** What a PullClient needs. */
export interface PullClientDeps {
  servers: PullServers;
  /** The request metadata of every pull call (Connect's). */
  metadata: () => Promise<grpc.Metadata>;
  logger: Logger;
  metrics: PullMetrics;
  timers: ClientTimers;
  /** Names always labelled as themselves in metrics (listener names, the meta apiserver). */
  configuredNames: readonly string[];
  /** Defaults of kubeConfig(). */
  kube: MetaKubeSettings;
}

/** How a pull dial ended, for the metric and the error. */
const RESULT_OF: Record<PullErrorCode, PullResult> = {
  ERR_PULL_NOT_ALLOWED: 'not_allowed',
  ERR_PULL_NOT_CONFIGURED: 'not_configured',
  ERR_PULL_BAD_ADDRESS: 'bad_address',
  ERR_PULL_TOO_MANY: 'too_many',
  ERR_PULL_DIAL: 'dial_error',
  ERR_PULL_DIAL_TIMEOUT: 'dial_timeout',
  ERR_PULL_SHUTTING_DOWN: 'shutting_down',
  ERR_PULL_UNAVAILABLE: 'unavailable',
  ERR_PULL_REFUSED: 'unauthenticated',
  ERR_PULL_CANCELLED: 'cancelled',
  ERR_PULL_STREAM: 'stream_error',
};

/** What to do after one attempt on one server failed. */
type Verdict = { next: true; why: string } | { error: PullError };

/** Pull connections of the agent. */
export class PullClient implements TunnelDialer {
  private readonly conns = new Set<ProxyConnection>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly d: PullClientDeps) {}

  /** True when at least one connected server offers pull mode. */
  get available(): boolean {
    return this.d.servers.status().available > 0;
  }

  /**
   * Resolves once a connected server offers pull mode (at once if one does),
   * for callers that start with the agent (certificate bootstrap, hooks): a
   * dial before that fails with ERR_PULL_UNAVAILABLE. Rejects with the
   * signal's reason when it is aborted first.
   */
  whenAvailable(signal?: AbortSignal): Promise<void> {
    const ready = this.d.servers.whenAvailable();
    if (!signal) return ready;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void ready.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** The target names the connected servers allow this agent (learned from them), sorted. */
  targets(): string[] {
    return this.d.servers.status().targets;
  }

  /** The connected servers as pull mode sees them: how many, how many offer pull, the names learned. */
  status(): PullPoolStatus {
    return this.d.servers.status();
  }

  /** Pull connections not fully finished (dialing, open or closing). */
  stats(): { connections: number } {
    return { connections: this.conns.size };
  }

  /**
   * Connects to the server-side target `address` (NAME, or NAME:PORT with the
   * port ignored) and returns the connection as a Duplex. Rejects with a
   * PullError: ERR_PULL_BAD_ADDRESS, ERR_PULL_NOT_ALLOWED (by the server, or
   * at once for a name the servers did not list), ERR_PULL_UNAVAILABLE (no
   * server offers pull), the server's refusals, ERR_PULL_CANCELLED (signal or
   * timeoutMs).
   *
   * @example
   * const socket = await agent.pull.dial('norm');
   */
  async dial(address: string, opts: DialOptions = {}): Promise<TunnelSocket> {
    const parsed = parsePullAddress(address);
    if ('error' in parsed) throw this.failed(new PullError('ERR_PULL_BAD_ADDRESS', '', parsed.error));
    const { name } = parsed;
    if (this.closed) throw this.failed(new PullError('ERR_PULL_UNAVAILABLE', name, 'pull mode is unavailable: the agent is stopping'));
    const learned = this.d.servers.learnedTargets();
    if (learned && !learned.has(name)) {
      throw this.failed(
        new PullError(
          'ERR_PULL_NOT_ALLOWED',
          name,
          `pull target "${name}" is not allowed for this agent (the tunnel servers allow: ${[...learned].sort().join(', ') || 'nothing'})`,
        ),
      );
    }
    const tried = new Set<PullServer>();
    const whys: string[] = [];
    for (;;) {
      const server = this.d.servers.pick(tried);
      if (!server) throw this.failed(new PullError('ERR_PULL_UNAVAILABLE', name, this.unavailableText(whys)));
      tried.add(server);
      const outcome = await this.attempt(server, name, parsed.port, opts);
      if (outcome instanceof TunnelSocket) return outcome;
      if ('error' in outcome) throw this.failed(outcome.error);
      whys.push(outcome.why);
    }
  }

  /**
   * An http.Agent whose connections are pull connections: the request's host
   * is the target name (`http://norm/healthz` reaches target `norm`).
   */
  httpAgent(opts: http.AgentOptions = {}): http.Agent {
    return createHttpAgent(this, { keepAlive: true, ...opts });
  }

  /** An https.Agent over pull connections: TLS end to end with the target, its options checked against it. */
  httpsAgent(opts: https.AgentOptions = {}): https.Agent {
    return createHttpsAgent(this, { keepAlive: true, ...opts });
  }

  /**
   * A KubeConfig for the meta cluster through pull mode: server
   * https://<target> (default `kubernetes`), the CA and token of the
   * --pull-kube-* flags unless given here.
   * Asynchronous because it loads the Kubernetes client (@kubernetes/client-node)
   * on first use: an agent that never asks for it does not pay for it.
   *
   * @example
   * const core = (await agent.pull.kubeConfig()).makeApiClient(CoreV1Api);
   */
  async kubeConfig(opts: MetaKubeOptions = {}): Promise<TunnelKubeConfig> {
    const { metaKubeConfig } = await import('./meta-kube.js');
    return metaKubeConfig(this, { ...this.d.kube, ...opts });
  }

  /** Ends every pull connection (open sockets are destroyed) and refuses new dials. */
  shutdown(): void {
    this.closed = true;
    for (const c of this.conns) c.shutdown();
  }

  /** Resolves once every pull connection has fully finished. */
  idle(): Promise<void> {
    if (this.conns.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** One try on one server: the socket, "try the next server", or the final error. */
  private async attempt(server: PullServer, name: string, port: number | undefined, opts: DialOptions): Promise<TunnelSocket | Verdict> {
    const address = port === undefined ? name : `${name}:${port}`;
    const dialID = randomDialID();
    const log = this.d.logger.child({ serverID: server.serverID });
    let conn: ProxyConnection;
    server.open++; // taken before any await, so concurrent dials spread over the servers
    try {
      const md = await this.d.metadata();
      const def = pullServiceDefinition.Pull;
      const call = server.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, md);
      conn = new ProxyConnection(new GrpcPacketStream(call, 'client', server.serverID), {
        address,
        dialID,
        logger: log,
        metrics: undefined,
        timers: this.d.timers,
        closeTimeoutMs: PULL_TIMING.closeTimeoutMs,
      });
    } catch (e) {
      server.open--;
      return { next: true, why: `cannot open a pull stream: ${(e as Error).message}` };
    }
    this.conns.add(conn);
    void conn.finished.then(() => {
      server.open--;
      this.forget(conn);
    });
    try {
      await conn.dial(PULL_TIMING.dialBackstopMs, opts);
    } catch (e) {
      return this.judge(e, server, name, log);
    }
    if (!conn.isEstablished) return { next: true, why: 'the pull stream ended right after the dial' };
    const label = this.label(name);
    this.d.metrics.result(label, 'ok');
    this.d.metrics.opened(label);
    void conn.finished.then(() => this.d.metrics.closed(label));
    log.debug('pull connection open', { target: name });
    return new TunnelSocket(conn, { address, dialID }, this.d.timers);
  }

  /** Sorts a failed dial: the server's refusal, a server to skip, or a failure of this dial. */
  private judge(e: unknown, server: PullServer, name: string, log: Logger): Verdict {
    if (!(e instanceof DialError)) return { error: new PullError('ERR_PULL_STREAM', name, (e as Error).message, e) };
    if (e.reason === 'endpoint') {
      const { code, message } = parsePullErrorText(e.endpointError ?? e.message);
      if (code === 'ERR_PULL_SHUTTING_DOWN') return { next: true, why: message };
      return { error: new PullError(code ?? 'ERR_PULL_DIAL', name, message, e) };
    }
    if (e.reason === 'context') return { error: new PullError('ERR_PULL_CANCELLED', name, `pull dial of "${name}" cancelled: ${e.message}`, e) };
    if (e.reason === 'timeout') {
      return { error: new PullError('ERR_PULL_DIAL_TIMEOUT', name, `no answer from the tunnel server to the pull dial of "${name}"`, e) };
    }
    const status = e.cause instanceof StreamClosedError ? e.cause.grpcCode : undefined;
    if (status === grpc.status.UNIMPLEMENTED) {
      this.d.servers.markUnsupported(server, log);
      return { next: true, why: 'the server does not offer pull mode' };
    }
    if (status === grpc.status.UNAUTHENTICATED || status === grpc.status.PERMISSION_DENIED || status === grpc.status.INVALID_ARGUMENT) {
      const details = (e.cause as Error).message;
      return { error: new PullError('ERR_PULL_REFUSED', name, `the tunnel server refused the pull stream: ${details}`, e) };
    }
    if (e.reason === 'streamsetup' || e.reason === 'tunnelclosed') return { next: true, why: e.message };
    return { error: new PullError('ERR_PULL_STREAM', name, `pull dial of "${name}" failed: ${e.message}`, e) };
  }

  private unavailableText(whys: string[]): string {
    const st = this.d.servers.status();
    if (st.servers === 0) return 'pull mode is unavailable: no tunnel server is connected';
    if (st.unsupported === st.servers) {
      return st.servers === 1
        ? 'pull mode is unavailable: the connected tunnel server does not offer it'
        : `pull mode is unavailable: none of the ${st.servers} connected tunnel servers offers it`;
    }
    const last = whys[whys.length - 1] ?? this.d.servers.lastProblem();
    return `pull mode is unavailable: no connected tunnel server took the pull stream${last ? ` (${last})` : ''}`;
  }

  /** Counts a failed dial and logs it; returns the error to throw. */
  private failed(err: PullError): PullError {
    this.d.metrics.result(this.label(err.target), RESULT_OF[err.code]);
    const fields = { target: err.target, code: err.code, error: err.message };
    if (err.code === 'ERR_PULL_CANCELLED') this.d.logger.debug('pull dial cancelled', fields);
    else this.d.logger.info('pull dial failed', fields);
    return err;
  }

  private label(name: string): string {
    if (name === '') return OTHER_TARGET;
    if (this.d.configuredNames.includes(name) || this.d.servers.learnedTargets()?.has(name)) return name;
    return OTHER_TARGET;
  }

  private forget(conn: ProxyConnection): void {
    this.conns.delete(conn);
    if (this.conns.size > 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
