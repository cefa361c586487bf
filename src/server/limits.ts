/**
 * Every timing constant and size bound of the server role, in one place.
 * Values a deployment may want to change are ServerConfig fields; these are
 * the internal ones. Tests override them through `ServerDeps.limits`.
 */

/** Internal bounds and timeouts of the server. Durations in milliseconds. */
export interface ServerLimits {
  /**
   * A frontend connection must show its protocol (the HTTP/2 preface or an
   * HTTP/1.x request line) within this time, else it is closed as bad input.
   */
  sniffTimeoutMs: number;
  /** Longest HTTP/1.x request line the sniffer waits for before calling the input garbage. */
  sniffMaxBytes: number;
  /**
   * A Unix-socket gRPC client is served natively once its first request shows
   * an :authority Node accepts (h2-preface.ts); without a request in this
   * time it is served through the slower :authority filter.
   */
  h2PrefaceTimeoutMs: number;
  /**
   * Agent→client packets queued for one connection beyond `xfrChannelSize`
   * make it "full" (gauge full_receive_channels). If it stays full this long,
   * the connection alone is closed as stalled (CLOSE_REQ to the agent, the
   * client gets an error). Upstream closes a client tunnel after 10 s in the
   * same situation.
   */
  stallTimeoutMs: number;
  /**
   * Hard memory bound per connection: agent→client bytes queued beyond this
   * close the connection at once, stalled or not (agents without
   * per-connection flow control can send faster than a client reads).
   */
  queueHardLimitBytes: number;
  /** Largest HTTP CONNECT request head (request line and headers); beyond it: 431 and close. */
  httpMaxHeaderBytes: number;
  /**
   * Bytes read from an HTTP CONNECT socket per DATA packet. Upstream reads
   * 32 KiB; 64 KiB (a whole Node socket read) measured 4 % faster uploads.
   */
  httpReadChunkBytes: number;
  /**
   * Keepalive ping timeout of both gRPC servers: a ping not answered in this
   * time drops the connection (grpc default 20 s).
   */
  keepaliveTimeoutMs: number;
  /**
   * Upstream's agent listener refuses client pings more often than this
   * (MinTime 30 s). grpc-js servers have no ping enforcement policy, so the
   * value is documentation of what agents may assume; agents must not ping
   * more often.
   */
  agentMinPingIntervalMs: number;
  /**
   * Per-connection flow control with agents that announce it
   * (proto/tunnel/v1/flow.proto): our receive window per connection, i.e.
   * how many agent→client bytes one connection may hold in the server before
   * the agent must wait for a grant. 0 turns flow control off (every agent is
   * then served like an upstream one).
   */
  flowWindowBytes: number;
  /**
   * How far one connection's receive window may grow beyond flowWindowBytes
   * while the agent is blocked on it and the client takes the bytes as fast
   * as they come (src/transport/flow-control.ts): the most agent→client bytes
   * one connection can ever hold in the server. Equal to flowWindowBytes: no growth.
   */
  flowMaxWindowBytes: number;
  /** A flow-controlled Connect stream whose Credits stream has not arrived within this is closed. */
  flowAttachTimeoutMs: number;
  /** Offer agents the Downlink stream (proto/tunnel/v1/flow.proto, step 4). */
  flowDownlink: boolean;
}

/** The defaults. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  sniffTimeoutMs: 10_000,
  sniffMaxBytes: 8 * 1024,
  h2PrefaceTimeoutMs: 30_000,
  stallTimeoutMs: 10_000,
  queueHardLimitBytes: 16 * 1024 * 1024,
  httpMaxHeaderBytes: 64 * 1024,
  httpReadChunkBytes: 64 * 1024,
  keepaliveTimeoutMs: 20_000,
  agentMinPingIntervalMs: 30_000,
  flowWindowBytes: 1024 * 1024,
  flowMaxWindowBytes: 4 * 1024 * 1024,
  flowAttachTimeoutMs: 10_000,
  flowDownlink: true,
});

/** Upstream ReadHeaderTimeout of the HTTP CONNECT frontend: default of ServerConfig.httpConnectHeaderTimeoutMs. */
export const DEFAULT_HTTP_CONNECT_HEADER_TIMEOUT_MS = 60_000;

/**
 * After an HTTP error response, the socket is closed at the latest this long
 * after the response was flushed, even if the client neither reads nor
 * closes (Go's server waits 500 ms the same way, so that unread request bytes
 * do not turn the close into a reset that loses the response).
 */
export const HTTP_CLOSE_LINGER_MS = 500;

/** Merges overrides into the defaults. */
export function resolveLimits(overrides?: Partial<ServerLimits>): ServerLimits {
  return { ...DEFAULT_LIMITS, ...(overrides ?? {}) };
}
