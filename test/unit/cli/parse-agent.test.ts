import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { AGENT_DEFAULTS } from '../../../src/agent/defaults.js';
import { parseCommandLine, type AgentCommand } from '../../../src/cli/parse.js';
import { UsageError } from '../../../src/cli/usage-error.js';
import { makeFlagFiles, type FlagFiles } from './fixture-files.js';

let files: FlagFiles;
beforeAll(() => {
  files = makeFlagFiles();
});
afterAll(() => files.remove());

function agent(args: string[], env: NodeJS.ProcessEnv = {}): AgentCommand {
  const cmd = parseCommandLine(['--mode=agent', ...args], env);
  if (cmd.mode !== 'agent') throw new Error(`expected agent, got ${cmd.mode}`);
  return cmd;
}

function refusal(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCommandLine(['--mode=agent', ...args], env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

describe('tunnel --mode=agent: defaults and value formats', () => {
  it('gives upstream defaults for everything not set', () => {
    const { config, warnings } = agent([]);
    expect(config).toMatchObject({
      proxyServerHost: '127.0.0.1',
      proxyServerPort: 8091,
      agentIdentifiers: '',
      syncIntervalMs: 1000,
      syncIntervalCapMs: 10_000,
      probeIntervalMs: 1000,
      syncForever: false,
      keepaliveTimeMs: 3_600_000,
      xfrChannelSize: 150,
      dialTimeoutMs: 5000,
      healthServerHost: '',
      healthServerPort: 8093,
      adminBindAddress: '127.0.0.1',
      adminServerPort: 8094,
      alpnProto: [],
      allowEphemeralPorts: false,
    });
    expect(config.agentID).toMatch(/^[0-9a-f-]{36}$/);
    expect(warnings).toEqual([]);
    expect(config.dialTimeoutMs).toBe(AGENT_DEFAULTS.dialTimeoutMs);
  });

  it('takes --flag value and --flag=value alike', () => {
    const a = agent(['--proxy-server-host', 'tunnel.example.com', '--proxy-server-port', '8132', '--sync-interval', '2s', '--agent-id', 'c1']).config;
    const b = agent(['--proxy-server-host=tunnel.example.com', '--proxy-server-port=8132', '--sync-interval=2s', '--agent-id=c1']).config;
    expect(a).toMatchObject({ proxyServerHost: 'tunnel.example.com', proxyServerPort: 8132, syncIntervalMs: 2000, agentID: 'c1' });
    expect(a).toEqual(b);
  });

  it('reads Go durations for the sync, probe and keepalive flags', () => {
    const { config } = agent(['--sync-interval=300ms', '--sync-interval-cap=1m30s', '--probe-interval=1.5s', '--keepalive-time=1h']);
    expect(config).toMatchObject({ syncIntervalMs: 300, syncIntervalCapMs: 90_000, probeIntervalMs: 1500, keepaliveTimeMs: 3_600_000 });
  });

  it('reads --sync-forever as a Go bool', () => {
    expect(agent(['--sync-forever']).config.syncForever).toBe(true);
    expect(agent(['--sync-forever=t']).config.syncForever).toBe(true);
    expect(agent(['--sync-forever=false']).config.syncForever).toBe(false);
  });

  it('collects --alpn-proto from repeats and commas', () => {
    expect(agent(['--alpn-proto=konnectivity,x', '--alpn-proto', 'y']).config.alpnProto).toEqual(['konnectivity', 'x', 'y']);
  });

  it('takes the agent id from PROXY_AGENT_ID, the flag winning over it', () => {
    expect(agent([], { PROXY_AGENT_ID: 'cluster-a' }).config.agentID).toBe('cluster-a');
    expect(agent(['--agent-id=cluster-b'], { PROXY_AGENT_ID: 'cluster-a' }).config.agentID).toBe('cluster-b');
  });

  it('accepts port 0 for the health and admin ports only with TUNNEL_ALLOW_EPHEMERAL_PORTS=1', () => {
    const env = { TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' };
    expect(agent(['--health-server-port=0', '--admin-server-port=0'], env).config).toMatchObject({
      healthServerPort: 0,
      adminServerPort: 0,
      allowEphemeralPorts: true,
    });
    expect(refusal(['--health-server-port=0'])).toMatch(/--health-server-port 0.*TUNNEL_ALLOW_EPHEMERAL_PORTS=1/);
  });
});

describe('tunnel --mode=agent: validation', () => {
  it('parses --agent-identifiers strictly, naming an unknown key and the allowed ones', () => {
    expect(agent(['--agent-identifiers=host=cluster-a&ipv4=10.0.0.1&default-route=true']).config.agentIdentifiers).toBe(
      'host=cluster-a&ipv4=10.0.0.1&default-route=true',
    );
    expect(refusal(['--agent-identifiers=hostname=a'])).toMatch(
      /--agent-identifiers: unknown agent identifier key "hostname" \(allowed: ipv4, ipv6, host, cidr, default-route\)/,
    );
  });

  it('requires --sync-interval <= --sync-interval-cap', () => {
    expect(refusal(['--sync-interval=20s'])).toMatch(/--sync-interval \(20s\) must not be greater than --sync-interval-cap \(10s\)/);
    expect(agent(['--sync-interval=10s']).config.syncIntervalMs).toBe(10_000);
  });

  it('refuses zero intervals and a bare number', () => {
    expect(refusal(['--probe-interval=0'])).toMatch(/--probe-interval: must be greater than 0/);
    expect(refusal(['--sync-interval=5'])).toMatch(/invalid value "5" for --sync-interval: no unit/);
  });

  it('requires --agent-key with --agent-cert and vice versa', () => {
    expect(refusal([`--agent-cert=${files.cert}`])).toMatch(/--agent-cert needs --agent-key/);
    expect(refusal([`--agent-key=${files.key}`])).toMatch(/--agent-key needs --agent-cert/);
    expect(agent([`--agent-cert=${files.cert}`, `--agent-key=${files.key}`, `--ca-cert=${files.ca}`]).config).toMatchObject({
      agentCert: files.cert,
      agentKey: files.key,
      caCert: files.ca,
    });
  });

  it.each(['ca-cert', 'service-account-token-path', 'kubeconfig'])('names --%s and the path when the file does not exist', (flag) => {
    const missing = path.join(files.dir, 'nope', flag);
    const msg = refusal([`--${flag}=${missing}`]);
    expect(msg).toContain(`--${flag}`);
    expect(msg).toContain(missing);
  });

  it('refuses an empty server host and a bad server port', () => {
    expect(refusal(['--proxy-server-host='])).toMatch(/--proxy-server-host cannot be empty/);
    expect(refusal(['--proxy-server-port=0'])).toMatch(/--proxy-server-port 0/);
    expect(refusal(['--proxy-server-port=70000'])).toMatch(/--proxy-server-port 70000.*expected 1-65535/);
  });

  it('checks the lease counting flags', () => {
    expect(refusal(['--server-count-source=foobar'])).toMatch(/invalid value "foobar" for --server-count-source: expected one of '', default, max/);
    expect(refusal(['--lease-label-selector=*notavalidlabel*'])).toMatch(/--lease-label-selector: expected a label selector/);
    expect(refusal(['--lease-label=*notavalidlabel*'])).toMatch(/--lease-label: expected a label selector/);
    expect(agent(['--lease-label-selector=k8s-app=konnectivity-server,component=proxy']).warnings).toEqual([]);
    expect(agent(['--lease-label-selector=env in (prod,staging),!canary']).config).toBeDefined();
  });

  it('maps the lease counting flags into the config, --lease-label being the older name of --lease-label-selector', () => {
    const c = agent(['--count-server-leases', '--lease-namespace=tunnel', '--lease-label=app=tunnel', '--server-count-source=max']).config;
    expect(c).toMatchObject({ countServerLeases: true, leaseNamespace: 'tunnel', leaseLabelSelector: 'app=tunnel', serverCountSource: 'max' });
    expect(agent(['--lease-label=app=old', '--lease-label-selector=app=new']).config.leaseLabelSelector).toBe('app=new');
    expect(agent(['--server-count-source=']).config.serverCountSource).toBe('default');
    expect(agent([]).config).toMatchObject({ countServerLeases: false, leaseNamespace: 'kube-system', leaseLabelSelector: 'k8s-app=konnectivity-server' });
  });

  it('maps --dial-alias name=host pairs, repeatable or comma-separated, and refuses malformed ones', () => {
    expect(agent(['--dial-alias=cluster-a=127.0.0.1,Cluster-B=kubernetes.default.svc', '--dial-alias', 'c=10.0.0.1']).config.dialAliases).toEqual({
      'cluster-a': '127.0.0.1',
      'cluster-b': 'kubernetes.default.svc',
      c: '10.0.0.1',
    });
    expect(refusal(['--dial-alias=cluster-a'])).toMatch(/invalid value for --dial-alias: "cluster-a" is not name=host/);
    expect(refusal(['--dial-alias=a:443=b'])).toMatch(/--dial-alias: "a:443=b": the alias "a:443" must be a bare host name/);
  });

  it('refuses --xfr-channel-size below 1', () => {
    expect(refusal(['--xfr-channel-size=0'])).toMatch(/--xfr-channel-size: must be greater than 0/);
  });

  it('warns when --keepalive-time is under the 30s servers enforce', () => {
    expect(agent(['--keepalive-time=10s']).warnings.join('\n')).toMatch(/--keepalive-time=10s is under 30s/);
  });

  it('warns for flags without effect: not yet, deprecated and removed upstream', () => {
    const { warnings } = agent(['--kube-api-content-type=application/json', '--warn-on-channel-limit', '--enable-push-service-account-token']);
    expect(warnings).toEqual([
      'flag --kube-api-content-type has no effect yet',
      expect.stringMatching(/^flag --warn-on-channel-limit has no effect \(/),
      expect.stringMatching(/^flag --enable-push-service-account-token has no effect \(/),
    ]);
  });

  it('refuses server flags in agent mode', () => {
    expect(refusal(['--agent-port=8091'])).toMatch(/flag --agent-port is a server flag; it is not accepted with --mode=agent/);
  });
});
