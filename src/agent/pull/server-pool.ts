/**
 * The agent's server connections as pull mode sees them. For each new server
 * connection (one per replica, kept by the ClientSet) it asks ListTargets
 * once, on that connection's own channel:
 * - OK: the server offers pull, and says which names this agent may pull;
 * - UNIMPLEMENTED: an upstream proxy-server (or an older build) without pull
 *   mode. Logged once per agent at warn (later ones at debug); push keeps
 *   working and the agent never opens pull streams there;
 * - any other error: remembered; dials still try that server last.
 * An entry goes away with its Connect stream. New pull connections go to the
 * live servers that offer pull, the least loaded first.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../observability/logger.js';
import { decodeTargetNames, LIST_TARGETS_PATH } from '../../transport/pull-service.js';
import type { ServerConnection } from '../server-connection.js';

/** What pull mode knows about one server connection. */
export type PullServerState = 'probing' | 'available' | 'unsupported' | 'failed';

/** One server connection that pull connections may use. */
export interface PullServer {
  readonly serverID: string;
  /** The channel of the server connection. */
  readonly client: grpc.Client;
  state: PullServerState;
  /** Names the server allows this agent (state available). */
  targets: string[];
  /** Why the last ListTargets failed (state failed or unsupported). */
  problem: string;
  /** Pull connections (dialing or open) on this server. */
  open: number;
}

/** A summary for readiness and errors. */
export interface PullPoolStatus {
  servers: number;
  available: number;
  unsupported: number;
  /** Names some available server allows, sorted. */
  targets: string[];
  /** Why a server (one that has pull mode) did not list its targets, e.g. a refusal ('' if none failed). */
  problem: string;
}

/** What a PullServers pool needs. */
export interface PullServersOptions {
  /** The request metadata of every pull call (agentid, agentidentifiers, token): Connect's. */
  metadata: () => Promise<grpc.Metadata>;
  logger: Logger;
  listTargetsTimeoutMs: number;
}

const identity = (b: Buffer): Buffer => b;

/** The pull-capable server connections of the agent. */
export class PullServers {
  private readonly servers = new Set<PullServer>();
  private warnedUnsupported = false;
  private rr = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly o: PullServersOptions) {}

  /** Starts tracking a new server connection and asks it for its targets. */
  add(conn: ServerConnection, log: Logger): void {
    if (!conn.client) {
      log.debug('server connection without a gRPC client: not used for pull mode');
      return;
    }
    const s: PullServer = { serverID: conn.serverID, client: conn.client, state: 'probing', targets: [], problem: '', open: 0 };
    this.servers.add(s);
    void conn.stream.done.then(() => this.servers.delete(s));
    void this.probe(s, log);
  }

  /** Forgets every server (agent stopping). */
  clear(): void {
    this.servers.clear();
  }

  /** Resolves once some server offers pull mode (at once if one does). */
  whenAvailable(): Promise<void> {
    if (this.status().available > 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /**
   * A server to open the next pull stream on, skipping those in `tried`:
   * available ones first (least pull connections, then in turn), then those
   * not known to lack pull. Undefined when none is left.
   */
  pick(tried: ReadonlySet<PullServer>): PullServer | undefined {
    const rank = (s: PullServer): number => (s.state === 'available' ? 0 : s.state === 'probing' ? 1 : 2);
    const candidates = [...this.servers].filter((s) => !tried.has(s) && s.state !== 'unsupported');
    if (candidates.length === 0) return undefined;
    this.rr++;
    candidates.sort((a, b) => rank(a) - rank(b) || a.open - b.open);
    const best = candidates.filter((c) => rank(c) === rank(candidates[0]!) && c.open === candidates[0]!.open);
    return best[this.rr % best.length];
  }

  /** The server answered a Pull stream with UNIMPLEMENTED: it has no pull mode. */
  markUnsupported(s: PullServer, log: Logger): void {
    if (s.state === 'unsupported') return;
    s.state = 'unsupported';
    s.problem = 'the server does not offer pull mode';
    this.logUnsupported(s, log);
  }

  /** Names that some available server allows; undefined while no server has answered ListTargets. */
  learnedTargets(): Set<string> | undefined {
    const avail = [...this.servers].filter((s) => s.state === 'available');
    if (avail.length === 0) return undefined;
    return new Set(avail.flatMap((s) => s.targets));
  }

  /** Counts for readiness and error texts. */
  status(): PullPoolStatus {
    let available = 0;
    let unsupported = 0;
    for (const s of this.servers) {
      if (s.state === 'available') available++;
      else if (s.state === 'unsupported') unsupported++;
    }
    return {
      servers: this.servers.size,
      available,
      unsupported,
      targets: [...(this.learnedTargets() ?? [])].sort(),
      problem: this.lastProblem(),
    };
  }

  /** The last ListTargets problem of a server that is not available, for error texts ('' if none). */
  lastProblem(): string {
    for (const s of this.servers) if (s.state === 'failed' && s.problem) return s.problem;
    return '';
  }

  private async probe(s: PullServer, log: Logger): Promise<void> {
    let md: grpc.Metadata;
    try {
      md = await this.o.metadata();
    } catch (e) {
      s.state = 'failed';
      s.problem = (e as Error).message;
      return;
    }
    const deadline = Date.now() + this.o.listTargetsTimeoutMs;
    let call: grpc.ClientUnaryCall;
    const answer = await new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) => {
      try {
        call = s.client.makeUnaryRequest(LIST_TARGETS_PATH, identity, identity, Buffer.alloc(0), md, { deadline }, (err, res) =>
          resolve(res === undefined ? { err } : { err, res }),
        );
        void call;
      } catch (e) {
        resolve({ err: { code: grpc.status.UNAVAILABLE, details: (e as Error).message } as grpc.ServiceError });
      }
    });
    if (!this.servers.has(s)) return;
    if (answer.err) {
      if (answer.err.code === grpc.status.UNIMPLEMENTED) {
        s.state = 'unsupported';
        s.problem = 'the server does not offer pull mode';
        this.logUnsupported(s, log);
      } else {
        s.state = 'failed';
        s.problem = answer.err.details || answer.err.message;
        log.warn('pull mode: the server did not list its targets', { code: grpc.status[answer.err.code], error: s.problem });
      }
      return;
    }
    try {
      s.targets = decodeTargetNames(answer.res ?? Buffer.alloc(0));
    } catch (e) {
      s.state = 'failed';
      s.problem = `malformed ListTargets answer: ${(e as Error).message}`;
      log.warn('pull mode: malformed target list from the server', { error: s.problem });
      return;
    }
    s.state = 'available';
    log.info('pull mode available', { targets: s.targets.join(',') });
    for (const w of this.waiters.splice(0)) w();
  }

  private logUnsupported(s: PullServer, log: Logger): void {
    const fields = { serverID: s.serverID };
    const text = 'pull mode is unavailable: the tunnel server does not offer it (an upstream proxy-server?); push mode keeps working';
    if (this.warnedUnsupported) {
      log.debug(text, fields);
      return;
    }
    this.warnedUnsupported = true;
    log.warn(text, fields);
  }
}
