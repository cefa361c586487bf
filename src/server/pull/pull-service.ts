/**
 * PullService on the agent port: authenticates each call like Connect,
 * serves one PullConnection per Pull stream and answers ListTargets. Holds
 * the policy, the per-agent bound on concurrent pull connections and the
 * pull metrics.
 */
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Logger } from '../../observability/logger.js';
import { OTHER_TARGET, PullMetrics } from '../../observability/pull-metrics.js';
import { GrpcPacketStream } from '../../transport/packet-stream.js';
import { encodeTargetNames } from '../../transport/pull-service.js';
import type { AgentAuthenticator } from '../auth/types.js';
import type { Clock } from '../clock.js';
import { authenticatePull, type PullCaller } from './authenticate.js';
import type { PullServerConfig } from './config.js';
import { type PullDialer, tcpPullDialer } from './dialer.js';
import { type PullAdmission, PullConnection } from './pull-connection.js';
import { PullPolicy } from './policy.js';
import type { PullPrincipal } from './principal.js';

/** A Pull stream that sends no DIAL_REQ within this time is closed. */
export const PULL_FIRST_PACKET_TIMEOUT_MS = 30_000;

/** What the pull service is built from. */
export interface PullServiceDeps {
  config: PullServerConfig;
  /** Child logger of the server. */
  logger: Logger;
  /** The pull metrics are registered here. */
  registry: Registry;
  clock: Clock;
  /** Connects to targets; TCP by default. */
  dialer?: PullDialer;
}

/** Counts of pull mode; all 0 when no pull connection is left. */
export interface PullStats {
  /** Pull streams being served (authenticated). */
  streams: number;
  /** Of those, dialing their target. */
  dialing: number;
  /** Of those, connected to their target. */
  open: number;
}

/** The server side of pull mode. */
export class PullService {
  readonly metrics: PullMetrics;
  readonly policy: PullPolicy;
  private readonly log: Logger;
  private readonly conns = new Set<PullConnection>();
  private readonly perAgent = new Map<string, number>();
  private readonly dialer: PullDialer;
  private lastID = 0n;
  private stopping = false;

  constructor(private readonly d: PullServiceDeps) {
    this.metrics = new PullMetrics(d.registry);
    this.policy = new PullPolicy(d.config.targets, d.config.allow);
    this.log = d.logger.child({ component: 'pull' });
    this.dialer = d.dialer ?? tcpPullDialer;
  }

  /** The grpc-js implementation of PullService, authenticating with `authenticator`. */
  handlers(authenticator: AgentAuthenticator): grpc.UntypedServiceImplementation {
    return {
      Pull: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        void this.servePull(call, authenticator).catch((e: unknown) =>
          this.log.error('pull stream handler failed', { error: (e as Error).message }),
        );
      },
      ListTargets: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        void this.listTargets(call, authenticator).then(
          (names) => callback(null, names),
          (e: grpc.StatusObject) => callback(e),
        );
      },
    };
  }

  /** Current counts. */
  stats(): PullStats {
    let dialing = 0;
    let open = 0;
    for (const c of this.conns) {
      if (c.phase === 'dialing') dialing++;
      else if (c.phase === 'open') open++;
    }
    return { streams: this.conns.size, dialing, open };
  }

  /** Refuses new pull dials and ends every pull connection (server shutdown). */
  shutdown(): void {
    this.stopping = true;
    for (const c of [...this.conns]) c.abort('ERR_PULL_SHUTTING_DOWN', 'the tunnel server is shutting down');
  }

  private async servePull(call: grpc.ServerDuplexStream<Buffer, Buffer>, authenticator: AgentAuthenticator): Promise<void> {
    const stream = new GrpcPacketStream(call, 'server');
    if (this.stopping) {
      stream.close({ code: grpc.status.UNAVAILABLE, message: 'the tunnel server is shutting down' });
      return;
    }
    const principal = await this.authenticate(callerOf(call, stream.peer), authenticator);
    if ('code' in principal) {
      stream.close({ code: principal.code, message: principal.details });
      return;
    }
    const conn = new PullConnection({
      stream,
      principal,
      admit: (name) => this.admit(principal, name),
      label: (name) => (this.policy.knows(name) ? name : OTHER_TARGET),
      dialer: this.dialer,
      dialTimeoutMs: this.d.config.dialTimeoutMs,
      connectID: ++this.lastID,
      firstPacketTimeoutMs: PULL_FIRST_PACKET_TIMEOUT_MS,
      clock: this.d.clock,
      log: this.log.child({ agentID: principal.agentID }),
      metrics: this.metrics,
    });
    this.conns.add(conn);
    try {
      await conn.serve();
    } finally {
      this.conns.delete(conn);
    }
  }

  private async listTargets(call: grpc.ServerUnaryCall<Buffer, Buffer>, authenticator: AgentAuthenticator): Promise<Buffer> {
    const principal = await this.authenticate(callerOf(call, safePeer(call)), authenticator);
    if ('code' in principal) throw principal;
    const names = this.policy.usableNames(principal);
    this.log.debug('pull targets listed', { agentID: principal.agentID, targets: names.join(',') });
    return encodeTargetNames(names);
  }

  /** The caller's principal, or the gRPC status refusing it (logged and counted). */
  private async authenticate(caller: PullCaller, authenticator: AgentAuthenticator): Promise<PullPrincipal | grpc.StatusObject> {
    const outcome = await authenticatePull(caller, authenticator);
    if ('principal' in outcome) return outcome.principal;
    const r = outcome.refusal;
    this.metrics.result(OTHER_TARGET, 'unauthenticated');
    this.log.warn('pull call refused', { peer: caller.peer, agentID: outcome.agentID, reason: r.reason, error: r.message });
    return { code: r.code, details: r.message, metadata: new grpc.Metadata() };
  }

  /** Checks the policy and takes a slot of the agent's bound. */
  private admit(p: PullPrincipal, name: string): PullAdmission {
    const decision = this.policy.decide(p, name);
    if (!decision.ok) return decision;
    if (this.stopping) {
      return { ok: false, code: 'ERR_PULL_SHUTTING_DOWN', result: 'shutting_down', message: 'the tunnel server is shutting down' };
    }
    const max = this.d.config.maxConnectionsPerAgent;
    const n = this.perAgent.get(p.key) ?? 0;
    if (n >= max) {
      return {
        ok: false,
        code: 'ERR_PULL_TOO_MANY',
        result: 'too_many',
        message: `agent "${p.agentID}" already has ${n} pull connections, the most the tunnel server allows per agent (--pull-max-connections-per-agent=${max})`,
      };
    }
    this.perAgent.set(p.key, n + 1);
    let released = false;
    return {
      ok: true,
      target: decision.target,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.perAgent.get(p.key) ?? 1) - 1;
        if (left > 0) this.perAgent.set(p.key, left);
        else this.perAgent.delete(p.key);
      },
    };
  }
}

type AnyCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>;

function callerOf(call: AnyCall, peer: string): PullCaller {
  return { metadata: call.metadata, peerCertificate: call.getAuthContext()?.sslPeerCertificate, peer };
}

function safePeer(call: AnyCall): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}
