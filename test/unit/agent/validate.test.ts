import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultAgentConfig, validateAgentConfig } from '../../../src/agent/index.js';
import type { AgentConfig } from '../../../src/agent/index.js';

const cfg = (o: Partial<AgentConfig>): AgentConfig => defaultAgentConfig({ agentID: 'a1', ...o });

describe('validateAgentConfig', () => {
  it('accepts the defaults', () => {
    expect(validateAgentConfig(cfg({})).targets).toEqual([{ host: '127.0.0.1', port: 8091, address: '127.0.0.1:8091' }]);
  });

  it('names an unknown identifier key and the allowed keys', () => {
    expect(() => validateAgentConfig(cfg({ agentIdentifiers: 'host=a&zone=b' }))).toThrow(
      'invalid --agent-identifiers "host=a&zone=b": unknown agent identifier key "zone" (allowed: ipv4, ipv6, host, cidr, default-route)',
    );
  });

  it('checks identifier values', () => {
    expect(() => validateAgentConfig(cfg({ agentIdentifiers: 'ipv4=10.0.0.300' }))).toThrow('ipv4="10.0.0.300" is not an IPv4 address');
    expect(() => validateAgentConfig(cfg({ agentIdentifiers: 'cidr=10.0.0.0' }))).toThrow('cidr="10.0.0.0" is not a CIDR');
    expect(() => validateAgentConfig(cfg({ agentIdentifiers: 'default-route=maybe' }))).toThrow('default-route="maybe" is not a boolean');
    expect(() =>
      validateAgentConfig(cfg({ agentIdentifiers: 'ipv4=1.2.3.4&ipv6=::1&host=node1&cidr=10.0.0.0/8&default-route=true' })),
    ).not.toThrow();
  });

  it('wants a client certificate and key together', () => {
    expect(() => validateAgentConfig(cfg({ agentCert: '/x.crt' }))).toThrow('--agent-cert is set but --agent-key is not: give both or neither');
    expect(() => validateAgentConfig(cfg({ agentKey: '/x.key' }))).toThrow('--agent-key is set but --agent-cert is not');
  });

  it('names files that cannot be read or parsed', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-'));
    try {
      expect(() => validateAgentConfig(cfg({ caCert: path.join(dir, 'missing.crt') }))).toThrow(/--ca-cert .*missing\.crt cannot be read: ENOENT/);
      const junk = path.join(dir, 'junk.crt');
      writeFileSync(junk, 'not a certificate');
      expect(() => validateAgentConfig(cfg({ caCert: junk }))).toThrow(/--ca-cert .*junk\.crt is not a PEM certificate bundle/);
      expect(() => validateAgentConfig(cfg({ serviceAccountTokenPath: path.join(dir, 'token') }))).toThrow(
        /--service-account-token-path .*token cannot be read/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wants the sync interval not above its cap', () => {
    expect(() => validateAgentConfig(cfg({ syncIntervalMs: 20_000, syncIntervalCapMs: 10_000 }))).toThrow(
      '--sync-interval (20000 ms) must not be greater than --sync-interval-cap (10000 ms)',
    );
  });

  it('checks ports: -1 disables, 0 only with allowEphemeralPorts', () => {
    expect(() => validateAgentConfig(cfg({ healthServerPort: 0 }))).toThrow('--health-server-port must be in 1-65535 (or -1 to disable), got 0');
    expect(() => validateAgentConfig(cfg({ healthServerPort: 0, adminServerPort: -1, allowEphemeralPorts: true }))).not.toThrow();
    expect(() => validateAgentConfig(cfg({ proxyServerPort: 70000 }))).toThrow('--proxy-server-port must be in 1-65535, got 70000');
  });

  it('takes a comma-separated list of server addresses', () => {
    const { targets } = validateAgentConfig(cfg({ proxyServerHost: 'a.example, b.example:9000,[::1]:8132,::1', proxyServerPort: 8091 }));
    expect(targets.map((t) => t.address)).toEqual(['a.example:8091', 'b.example:9000', '[::1]:8132', '[::1]:8091']);
    expect(() => validateAgentConfig(cfg({ proxyServerHost: 'a:b:c' }))).toThrow('--proxy-server-host entry "a:b:c": too many colons in address');
    expect(() => validateAgentConfig(cfg({ proxyServerHost: ' , ' }))).toThrow('--proxy-server-host is empty');
  });
});
