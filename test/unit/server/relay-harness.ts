/** A relay wired to in-memory streams and a fake clock, for unit tests. */
import FakeTimers from '@sinonjs/fake-timers';
import type { Registry } from 'prom-client';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry, ServerMetrics } from '../../../src/observability/metrics.js';
import { parseIdentifiers } from '../../../src/protocol/index.js';
import type { Clock } from '../../../src/server/clock.js';
import type { ProxyStrategy } from '../../../src/server/config.js';
import { serveAgentStream } from '../../../src/server/connect-handler.js';
import { serveProxyStream } from '../../../src/server/grpc-frontend.js';
import { resolveLimits, type ServerLimits } from '../../../src/server/limits.js';
import { BackendRegistry } from '../../../src/server/registry.js';
import { Relay } from '../../../src/server/relay.js';
import { FakePacketStream } from './fake-stream.js';

export interface HarnessOptions {
  backendDialTimeoutMs?: number;
  xfrChannelSize?: number;
  limits?: Partial<ServerLimits>;
  strategies?: ProxyStrategy[];
}

export interface Peer {
  stream: FakePacketStream;
  /** Resolves when the server finished serving the stream. */
  served: Promise<void>;
}

export function harness(opts: HarnessOptions = {}) {
  const fake = FakeTimers.createClock(0);
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (h) => fake.clearTimeout(h as FakeTimers.TimerId),
  };
  const registry: Registry = newRegistry(false);
  const metrics = new ServerMetrics(registry);
  const logger = silentLogger();
  const backends = new BackendRegistry(opts.strategies ?? ['default'], metrics, () => 0);
  const relay = new Relay({
    logger,
    metrics,
    registry: backends,
    clock,
    limits: resolveLimits(opts.limits),
    backendDialTimeoutMs: opts.backendDialTimeoutMs ?? 0,
    xfrChannelSize: opts.xfrChannelSize ?? 10,
  });
  let n = 0;
  return {
    relay,
    registry,
    metrics,
    backends,
    fake,
    /** Connects an agent stream (already admitted). */
    agent(agentID = 'agent-1', identifiers = ''): Peer {
      const stream = new FakePacketStream(`agent ${agentID}#${++n}`);
      const served = serveAgentStream(stream, { relay, logger, metrics }, {
        agentID,
        identifiersText: identifiers,
        identifiers: parseIdentifiers(identifiers, false),
        identity: { subject: agentID, method: 'none' },
      });
      return { stream, served };
    },
    /** Opens a Proxy stream. */
    client(): Peer {
      const stream = new FakePacketStream(`client#${++n}`);
      return { stream, served: serveProxyStream(stream, relay, metrics) };
    },
    async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
      const m = await registry.getSingleMetric(name)?.get();
      const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
      return v?.value ?? 0;
    },
  };
}

/** Lets pending promise callbacks and immediates run (one event-loop turn). */
export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
