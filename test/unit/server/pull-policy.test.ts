/**
 * The server's pull policy: who an agent is for the allow-list (from what
 * its credential proves), what it may pull, and how the flag values read.
 */
import { describe, expect, it } from '@jest/globals';
import {
  defaultPullServerConfig,
  parsePullAllow,
  parsePullTarget,
  PullPolicy,
  pullPrincipal,
  resolvePullTargets,
} from '../../../src/server/pull/index.js';

const mtls = (cn: string, allowedAgentIDs?: string[]) =>
  allowedAgentIDs ? { subject: cn, method: 'mtls' as const, allowedAgentIDs } : { subject: cn, method: 'mtls' as const };
const token = { subject: 'system:serviceaccount:tunnel-system:tunnel-agent', method: 'token' as const };

describe('pull principal', () => {
  it("a cluster certificate is its CN and its cluster; an agent id it claims counts only when bound to it", () => {
    expect(pullPrincipal('cluster-b', mtls('tunnel-agent:cluster-a'))!.names).toEqual(['tunnel-agent:cluster-a', 'cluster-a']);
    expect(pullPrincipal('cluster-a', mtls('tunnel-agent:cluster-a', ['cluster-a']))!.names).toEqual(['tunnel-agent:cluster-a', 'cluster-a']);
    expect(pullPrincipal('edge-1', mtls('agent-x', ['edge-1']))!.names).toEqual(['agent-x', 'edge-1']);
    expect(pullPrincipal('edge-1', mtls('agent-x'))!.names).toEqual(['agent-x']);
  });

  it('a shared token is its user and the agent id, unless the identity binds ids', () => {
    expect(pullPrincipal('cluster-a', token)!.names).toEqual([token.subject, 'cluster-a']);
    expect(pullPrincipal('cluster-a', { ...token, allowedAgentIDs: ['cluster-b'] })!.names).toEqual([token.subject]);
  });

  it('one bound per certificate, per token and agent id; none for an anonymous agent', () => {
    expect(pullPrincipal('x', mtls('tunnel-agent:c'))!.key).toBe(pullPrincipal('y', mtls('tunnel-agent:c'))!.key);
    expect(pullPrincipal('x', token)!.key).not.toBe(pullPrincipal('y', token)!.key);
    expect(pullPrincipal('x', { subject: 'anonymous', method: 'none' })).toBeUndefined();
  });
});

describe('pull policy', () => {
  const policy = new PullPolicy(
    [
      { name: 'kubernetes', host: '10.96.0.1', port: 443 },
      { name: 'norm', host: 'norm.platform', port: 80 },
      { name: 'billing', host: '10.0.0.9', port: 8080 },
    ],
    [
      { identity: '*', targets: ['kubernetes'] },
      { identity: 'cluster-a', targets: ['norm', 'metrics'] },
    ],
  );
  const a = pullPrincipal('cluster-a', mtls('tunnel-agent:cluster-a'))!;
  const b = pullPrincipal('cluster-b', mtls('tunnel-agent:cluster-b'))!;

  it('adds up the rules that match: * for everyone, the cluster name for its agent', () => {
    expect(policy.allowedNames(a)).toEqual(['kubernetes', 'metrics', 'norm']);
    expect(policy.usableNames(a)).toEqual(['kubernetes', 'norm']);
    expect(policy.usableNames(b)).toEqual(['kubernetes']);
    expect(policy.decide(a, 'norm')).toEqual({ ok: true, target: { name: 'norm', host: 'norm.platform', port: 80 } });
  });

  it('refuses other names alike whether or not they exist; the result tells them apart for operators', () => {
    const existing = policy.decide(b, 'norm');
    const missing = policy.decide(b, 'nothing');
    expect(existing).toEqual({ ok: false, code: 'ERR_PULL_NOT_ALLOWED', result: 'not_allowed', message: 'pull target "norm" is not allowed for agent "cluster-b"' });
    expect(missing).toMatchObject({ ok: false, code: 'ERR_PULL_NOT_ALLOWED', result: 'unknown_target' });
  });

  it('says so when an allowed name has no address on the server', () => {
    expect(policy.decide(a, 'metrics')).toMatchObject({ ok: false, code: 'ERR_PULL_NOT_CONFIGURED', result: 'not_configured' });
  });

  it('labels metrics only with names it knows', () => {
    expect(policy.knows('billing')).toBe(true);
    expect(policy.knows('metrics')).toBe(true);
    expect(policy.knows('random-name')).toBe(false);
  });

  it('by default lets every authenticated agent reach kubernetes and nothing else', () => {
    const d = defaultPullServerConfig();
    const p = new PullPolicy([{ name: 'kubernetes', host: '10.96.0.1', port: 443 }, { name: 'norm', host: 'n', port: 1 }], d.allow);
    expect(p.usableNames(a)).toEqual(['kubernetes']);
    expect(d.maxConnectionsPerAgent).toBe(256);
  });
});

describe('pull flag values', () => {
  it('reads targets NAME=HOST:PORT', () => {
    expect(parsePullTarget('norm=norm.platform.svc:8080')).toEqual({ name: 'norm', host: 'norm.platform.svc', port: 8080 });
    expect(parsePullTarget('v6=[fd00::1]:443')).toEqual({ name: 'v6', host: 'fd00::1', port: 443 });
  });

  it.each([
    ['norm', /is not NAME=HOST:PORT/],
    ['Norm=a:1', /target name "Norm" is not usable/],
    ['10.0.0.1=a:1', /a name is not an IP address/],
    ['norm=a', /is not HOST:PORT/],
    ['norm=a:70000', /port "70000" is not in 1-65535/],
    ['norm=fd00::1:443', /write IPv6 addresses as \[ADDR\]:PORT/],
  ])('refuses the target %j', (text, why) => {
    expect(() => parsePullTarget(text)).toThrow(why);
  });

  it('reads allow rules IDENTITY=NAME[,NAME...]', () => {
    expect(parsePullAllow('cluster-a=norm,billing,norm')).toEqual({ identity: 'cluster-a', targets: ['norm', 'billing'] });
    expect(parsePullAllow('system:serviceaccount:tunnel-system:tunnel-agent=kubernetes')).toEqual({
      identity: 'system:serviceaccount:tunnel-system:tunnel-agent',
      targets: ['kubernetes'],
    });
    expect(parsePullAllow('*=')).toEqual({ identity: '*', targets: [] });
    expect(() => parsePullAllow('=norm')).toThrow(/is not IDENTITY=NAME/);
    expect(() => parsePullAllow('cluster-a=No_Way')).toThrow(/target name "No_Way" is not usable/);
  });

  it('adds the in-cluster apiserver as kubernetes in a pod, unless given', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(resolvePullTargets([], env)).toEqual([{ name: 'kubernetes', host: '10.96.0.1', port: 443 }]);
    expect(resolvePullTargets([], {})).toEqual([]);
    const own = { name: 'kubernetes', host: '127.0.0.1', port: 6443 };
    expect(resolvePullTargets([own], env)).toEqual([own]);
    expect(() => resolvePullTargets([own, own], env)).toThrow(/given more than once/);
  });
});
