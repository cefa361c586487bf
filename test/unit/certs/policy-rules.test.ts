import { describe, expect, it } from '@jest/globals';
import { ApproverPolicy, bootstrapServiceAccountRule, type CsrFacts } from '../../../src/certs/approver-policy.js';
import { Backoff } from '../../../src/certs/backoff.js';
import type { ParsedCsr } from '../../../src/certs/csr-request.js';
import { nearExpiry, remainingFraction, renewalTime, reusable } from '../../../src/certs/renewal.js';
import { backdateFor, leafLifetimeMs } from '../../../src/certs/signer.js';
import { csrExpirationSeconds } from '../../../src/certs/timing.js';

const SERVER_SA = 'system:serviceaccount:tunnel:tunnel-server';

function request(over: Partial<ParsedCsr> = {}): ParsedCsr {
  return {
    subject: '',
    commonNames: ['tunnel-agent:a'],
    organizations: ['tunnel.tkestack.io:agents'],
    otherSubjectFields: [],
    dnsNames: [],
    ipAddresses: [],
    emails: [],
    uris: [],
    otherSans: [],
    key: { type: 'ec', curve: 'P-256' },
    signatureValid: true,
    der: Buffer.alloc(0),
    ...over,
  };
}

function agentFacts(over: Partial<ParsedCsr> = {}, rest: Partial<CsrFacts> = {}): CsrFacts {
  return {
    signerName: 'tunnel.tkestack.io/agent',
    username: 'system:serviceaccount:kube-system:tunnel-bootstrap-a',
    groups: ['system:serviceaccounts'],
    usages: ['digital signature', 'client auth'],
    request: request(over),
    ...rest,
  };
}

describe('approver policy rules', () => {
  const policy = new ApproverPolicy({ serverRequesters: [SERVER_SA], serverSans: { dnsNames: ['tunnel.example'] } });

  it('approves the agent of the requester cluster and says so', () => {
    expect(policy.decide(agentFacts())).toEqual({
      allowed: true,
      role: 'agent',
      cluster: 'a',
      summary: 'agent certificate "tunnel-agent:a" for the bootstrap account of cluster "a"',
    });
  });

  it.each<[string, CsrFacts, string]>([
    ['an unsigned request', agentFacts({ signatureValid: false }), 'rule signature:'],
    ['two CNs', agentFacts({ commonNames: ['tunnel-agent:a', 'tunnel-agent:b'] }), 'rule common-name:'],
    ['an OU in the subject', agentFacts({ otherSubjectFields: ['OU'] }), 'rule subject: only CN and O are allowed in the subject, got ["OU"]'],
    ['system:nodes (any case) as organisation', agentFacts({ organizations: ['SYSTEM:nodes'] }), 'rule organization: organisation "SYSTEM:nodes" is never allowed'],
    ['no organisation', agentFacts({ organizations: [] }), 'rule organization: agent certificates carry exactly'],
    ['no client auth', agentFacts({}, { usages: ['digital signature'] }), 'rule usages: agent certificates need usage "client auth"'],
    ['cert sign', agentFacts({}, { usages: ['client auth', 'cert sign'] }), 'rule usages: usages ["cert sign"] are not allowed on agent certificates'],
    ['a P-521 key', agentFacts({ key: { type: 'ec', curve: 'P-521' } }), 'rule key: ECDSA curve "P-521" is not allowed (P-256 or P-384)'],
    ['an Ed25519 key', agentFacts({ key: { type: 'ed25519' } }), 'rule key: key type "ed25519" is not allowed'],
    ['an e-mail SAN', agentFacts({ emails: ['a@b.c'] }), 'rule sans: agent certificates may not carry ["email:a@b.c"]'],
    ['an IP SAN', agentFacts({ ipAddresses: ['10.0.0.1'] }), 'rule sans: ["IP:10.0.0.1"] not allowed on agent certificates (allowed: none)'],
    ['a bootstrap account of another namespace', agentFacts({}, { username: 'system:serviceaccount:other:tunnel-bootstrap-a' }), 'rule requester:'],
    ['a bootstrap account with a bad cluster name', agentFacts({}, { username: 'system:serviceaccount:kube-system:tunnel-bootstrap-A_B' }), 'rule requester:'],
    ['a server CN from an agent signer', agentFacts({ commonNames: ['tunnel-server'] }), 'rule common-name:'],
    ['server auth from the server signer without the server account', { ...agentFacts(), signerName: 'tunnel.tkestack.io/server' }, 'rule requester:'],
    ['an unknown signer', { ...agentFacts(), signerName: 'example.com/x' }, 'rule requester: signer "example.com/x" is not a tunnel signer'],
  ])('denies %s', (_what, facts, message) => {
    const d = policy.decide(facts);
    expect(d.allowed).toBe(false);
    expect(d.allowed ? '' : d.message).toContain(message);
  });

  it('servers: only their account, their CN, no organisation, server auth, allowed SANs', () => {
    const server = (over: Partial<ParsedCsr> = {}, usages = ['digital signature', 'server auth']): CsrFacts => ({
      signerName: 'tunnel.tkestack.io/server',
      username: SERVER_SA,
      groups: [],
      usages,
      request: request({ commonNames: ['tunnel-server'], organizations: [], dnsNames: ['tunnel.example'], ...over }),
    });
    expect(policy.decide(server()).allowed).toBe(true);
    expect(policy.decide(server({ organizations: ['tunnel.tkestack.io:agents'] }))).toMatchObject({ rule: 'organization' });
    expect(policy.decide(server({}, ['server auth', 'client auth']))).toMatchObject({ rule: 'usages', message: 'rule usages: server certificates may not have usage "client auth"' });
    expect(policy.decide(server({ dnsNames: ['other.example'] }))).toMatchObject({ rule: 'sans' });
  });

  it('the signer re-check ignores who asked but not what was asked', () => {
    expect(policy.checkContent(agentFacts({ commonNames: ['tunnel-agent:zz'] }, { username: 'someone' })).allowed).toBe(true);
    expect(policy.checkContent(agentFacts({ organizations: ['system:masters'] }, { username: 'someone' }))).toMatchObject({ rule: 'organization' });
    expect(policy.checkContent(agentFacts({ commonNames: ['admin'] }))).toMatchObject({ rule: 'common-name' });
  });

  it('the requester rule is injectable, and a system: agent group is refused', () => {
    const custom = new ApproverPolicy({ serverRequesters: [], clusterOfRequester: (user, groups) => (groups.includes('clusters:x') ? 'x' : user === 'ops' ? 'ops-cluster' : undefined) });
    expect(custom.decide(agentFacts({ commonNames: ['tunnel-agent:x'] }, { username: 'anyone', groups: ['clusters:x'] })).allowed).toBe(true);
    expect(custom.decide(agentFacts({ commonNames: ['tunnel-agent:x'] }, { username: 'ops', groups: [] }))).toMatchObject({ rule: 'common-name' });
    expect(bootstrapServiceAccountRule('tunnel')('system:serviceaccount:tunnel:tunnel-bootstrap-prod-1', [])).toBe('prod-1');
    expect(() => new ApproverPolicy({ serverRequesters: [], agentGroup: 'system:masters' })).toThrow(expect.objectContaining({ code: 'ERR_CERT_CONFIG' }));
  });
});

describe('renewal schedule, lifetimes and backoff', () => {
  const v = { notBefore: new Date(0), notAfter: new Date(100_000) };

  it('renews between 70 % and 90 % of the lifetime and is not ready under 10 % left', () => {
    expect(renewalTime(v, () => 0)).toBe(70_000);
    expect(renewalTime(v, () => 0.5)).toBe(80_000);
    expect(renewalTime(v, () => 0.99999)).toBe(90_000);
    expect(remainingFraction(v, 25_000)).toBe(0.75);
    expect(reusable(v, 89_000)).toBe(true);
    expect(reusable(v, 90_000)).toBe(false);
    expect(nearExpiry(v, 89_999)).toBe(false);
    expect(nearExpiry(v, 90_000)).toBe(true);
    expect(nearExpiry(v, 200_000)).toBe(true);
  });

  it('clamps lifetimes between the floor and --cert-lifetime, and caps the backdate at a quarter', () => {
    const p = { certLifetimeMs: 24 * 3_600_000 };
    expect(leafLifetimeMs(undefined, p)).toBe(24 * 3_600_000);
    expect(leafLifetimeMs(600, p)).toBe(600_000);
    expect(leafLifetimeMs(10, p)).toBe(600_000);
    expect(leafLifetimeMs(365 * 86_400, p)).toBe(24 * 3_600_000);
    expect(leafLifetimeMs(600, { certLifetimeMs: 20_000, minLifetimeMs: 1_000 })).toBe(20_000);
    expect(backdateFor(3_600_000, p)).toBe(300_000);
    expect(backdateFor(600_000, p)).toBe(150_000);
    // A CSR never asks for less than the API's 600 s; a shorter --cert-lifetime is the signer's cap.
    expect(csrExpirationSeconds(6_000)).toBe(600);
    expect(csrExpirationSeconds(3_600_000)).toBe(3_600);
  });

  it('backs off exponentially with jitter, capped, and resets', () => {
    const b = new Backoff({ initialMs: 1_000, maxMs: 10_000, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([1_000, 2_000, 4_000, 8_000, 10_000]);
    expect(b.failures).toBe(5);
    b.reset();
    expect(b.next()).toBe(1_000);
    const low = new Backoff({ initialMs: 1_000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 1_000, jitter: 0.2, random: () => 0.99999 });
    expect(low.next()).toBe(800);
    expect(high.next()).toBe(1_200);
  });
});
