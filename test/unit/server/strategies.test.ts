import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../../src/observability/logger.js';
import { newRegistry, ServerMetrics } from '../../../src/observability/metrics.js';
import { parseIdentifiers } from '../../../src/protocol/index.js';
import { Backend } from '../../../src/server/backend.js';
import type { ProxyStrategy } from '../../../src/server/config.js';
import { ServerError } from '../../../src/server/errors.js';
import { BackendRegistry } from '../../../src/server/registry.js';
import { dialHost } from '../../../src/server/strategies.js';
import { FakePacketStream } from './fake-stream.js';

let seq = 0;
function backend(agentID: string, identifiers = '', draining = false): Backend {
  const metrics = new ServerMetrics(newRegistry(false));
  const b = new Backend({
    seq: ++seq,
    agentID,
    identifiersText: identifiers,
    identifiers: parseIdentifiers(identifiers, false),
    identity: { subject: agentID, method: 'none' },
    stream: new FakePacketStream(agentID),
    logger: silentLogger(),
    metrics: metrics.stream,
    connectedAt: 0,
  });
  b.draining = draining;
  return b;
}

function registry(strategies: ProxyStrategy[], backends: Backend[], random = 0) {
  const metrics = new ServerMetrics(newRegistry(false));
  const r = new BackendRegistry(strategies, metrics, () => random);
  for (const b of backends) r.add(b);
  return { r, metrics };
}

describe('dialHost', () => {
  it.each([
    ['10.0.0.1:443', '10.0.0.1'],
    ['node-1:10250', 'node-1'],
    ['[::1]:80', '::1'],
    ['[fd00::2]:6443', 'fd00::2'],
    [':80', ''],
  ])('%s -> %s', (addr, host) => expect(dialHost(addr)).toBe(host));

  it.each(['no-port', '::1:80', '[::1]', '[::1]:80:90', 'a]:80'])('refuses %s', (addr) => {
    expect(() => dialHost(addr)).toThrow(ServerError);
  });
});

describe('backend selection', () => {
  const cases: {
    name: string;
    strategies: ProxyStrategy[];
    agents: [string, string, boolean?][];
    address: string;
    random?: number;
    want: string | 'ERR_NO_AGENT' | 'ERR_BAD_DIAL_ADDRESS';
  }[] = [
    { name: 'default: none connected', strategies: ['default'], agents: [], address: 'x:1', want: 'ERR_NO_AGENT' },
    { name: 'default: random start', strategies: ['default'], agents: [['a', ''], ['b', ''], ['c', '']], address: 'x:1', random: 0.5, want: 'b' },
    { name: 'default: skips draining', strategies: ['default'], agents: [['a', '', true], ['b', '']], address: 'x:1', want: 'b' },
    { name: 'default: draining when only kind left', strategies: ['default'], agents: [['a', '', true]], address: 'x:1', want: 'a' },
    { name: 'destHost: by host identifier', strategies: ['destHost'], agents: [['a', 'host=node1'], ['b', 'host=node2']], address: 'node2:10250', want: 'b' },
    { name: 'destHost: by ipv4', strategies: ['destHost'], agents: [['a', 'ipv4=10.0.0.1&ipv4=10.0.0.2']], address: '10.0.0.2:22', want: 'a' },
    { name: 'destHost: IPv6 brackets stripped', strategies: ['destHost'], agents: [['a', 'ipv4=1.2.3.4'], ['b', 'ipv6=fd00::1']], address: '[fd00::1]:443', want: 'b' },
    { name: 'destHost: no match is "not found"', strategies: ['destHost'], agents: [['a', 'host=node1']], address: 'node9:1', want: 'ERR_NO_AGENT' },
    { name: 'destHost: no CIDR matching', strategies: ['destHost'], agents: [['a', 'cidr=10.0.0.0/8']], address: '10.1.2.3:1', want: 'ERR_NO_AGENT' },
    { name: 'destHost: bad address fails the dial', strategies: ['destHost', 'default'], agents: [['a', '']], address: 'noport', want: 'ERR_BAD_DIAL_ADDRESS' },
    { name: 'destHost then default: falls through', strategies: ['destHost', 'default'], agents: [['a', 'host=node1'], ['b', '']], address: 'elsewhere:1', random: 0.9, want: 'b' },
    { name: 'destHost then default: match wins', strategies: ['destHost', 'default'], agents: [['a', ''], ['b', 'host=node1']], address: 'node1:1', want: 'b' },
    { name: 'defaultRoute: only default-route agents', strategies: ['defaultRoute'], agents: [['a', ''], ['b', 'default-route=true']], address: 'x:1', want: 'b' },
    { name: 'defaultRoute: none is "not found"', strategies: ['defaultRoute'], agents: [['a', 'default-route=false']], address: 'x:1', want: 'ERR_NO_AGENT' },
    { name: 'destHost, defaultRoute, default', strategies: ['destHost', 'defaultRoute', 'default'], agents: [['a', ''], ['b', 'default-route=true']], address: 'y:1', want: 'b' },
    { name: 'defaultRoute: prefers non-draining', strategies: ['defaultRoute'], agents: [['a', 'default-route=true', true], ['b', 'default-route=true']], address: 'x:1', want: 'b' },
  ];
  it.each(cases)('$name', ({ strategies, agents, address, random, want }) => {
    const { r } = registry(strategies, agents.map(([id, ids, dr]) => backend(id, ids, dr ?? false)), random ?? 0);
    if (want.startsWith('ERR_')) {
      expect(() => r.pick(address)).toThrow(expect.objectContaining({ code: want }));
    } else {
      expect(r.pick(address).agentID).toBe(want);
    }
  });

  it('prefers an agent\'s first stream, unless it is draining', () => {
    const first = backend('a');
    const second = backend('a');
    const { r } = registry(['default'], [first, second]);
    expect(r.pick('x:1')).toBe(first);
    first.draining = true;
    r.changed();
    expect(r.pick('x:1')).toBe(second);
    expect(r.agentCount()).toBe(1);
    expect(r.streamCount()).toBe(2);
    r.remove(first);
    r.remove(first);
    expect(r.pick('x:1')).toBe(second);
  });

  it('keeps ready_backends per strategy and counts readiness by the first strategy', async () => {
    const a = backend('a', 'host=n1');
    const b = backend('b', 'default-route=true');
    const { r, metrics } = registry(['destHost', 'defaultRoute', 'default'], [a, b]);
    const v = async (s: string): Promise<number | undefined> =>
      (await metrics.readyBackends.get()).values.find((x) => x.labels.proxy_strategy === s)?.value;
    expect([await v('destHost'), await v('defaultRoute'), await v('default')]).toEqual([1, 1, 2]);
    expect(r.readyAgents()).toBe(1);
    r.remove(a);
    expect(r.readyAgents()).toBe(0);
    expect(await v('default')).toBe(1);
    expect((await metrics.readyBackendConnections.get()).values[0]?.value).toBe(1);
  });
});
