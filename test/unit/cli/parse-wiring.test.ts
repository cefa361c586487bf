/**
 * The certificate and hook flags: what lands in the config, and the usage
 * errors that name the flag to fix.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCommandLine, type AgentCommand, type ServerCommand } from '../../../src/cli/parse.js';
import { UsageError } from '../../../src/cli/usage-error.js';
import { makeFlagFiles, type FlagFiles } from './fixture-files.js';

let files: FlagFiles;
let hookModule: string;
beforeAll(() => {
  files = makeFlagFiles();
  hookModule = path.join(files.dir, 'hook.mjs');
  writeFileSync(hookModule, 'export default { name: "x", preStartTunnelAgent() {} };\n');
});
afterAll(() => files.remove());

const IN_CLUSTER = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

function server(args: string[], env: NodeJS.ProcessEnv = IN_CLUSTER): ServerCommand {
  const cmd = parseCommandLine(['--mode=server', '--uds-name=/tmp/x.sock', ...args], env);
  if (cmd.mode !== 'server') throw new Error(`expected server, got ${cmd.mode}`);
  return cmd;
}

function agent(args: string[], env: NodeJS.ProcessEnv = {}): AgentCommand {
  const cmd = parseCommandLine(['--mode=agent', ...args], env);
  if (cmd.mode !== 'agent') throw new Error(`expected agent, got ${cmd.mode}`);
  return cmd;
}

function refusal(mode: 'server' | 'agent', args: string[], env: NodeJS.ProcessEnv = IN_CLUSTER): string {
  try {
    parseCommandLine([`--mode=${mode}`, ...(mode === 'server' ? ['--uds-name=/tmp/x.sock'] : []), ...args], env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

const serverFiles = (): string[] => [`--cluster-cert=${files.cert}`, `--cluster-key=${files.key}`];
const csrAgent = (): string[] => [
  '--cert-source=csr',
  `--ca-cert=${files.ca}`,
  `--bootstrap-token-path=${files.token}`,
  `--cert-dir=${files.dir}`,
];

describe('server certificate flags', () => {
  it('files by default, with the csr defaults filled in', () => {
    expect(server(serverFiles()).config.certs).toEqual({
      source: 'files',
      signerNamePrefix: 'tunnel.tkestack.io',
      certDir: '',
      certLifetimeMs: 8760 * 3_600_000,
      namespace: 'kube-system',
      serverServiceAccount: 'tunnel-server',
      sans: ['localhost', '127.0.0.1'],
      caReloadMs: 5 * 60_000,
    });
  });

  it('csr: no certificate files needed; SANs from --cert-san and env POD_IP', () => {
    const { config } = server(
      ['--cert-source=csr', `--cert-dir=${files.dir}`, '--namespace=tunnel-system', '--cert-lifetime=720h', '--cert-san=tunnel.example.com,10.0.0.9', '--cert-san=fe.tunnel-system.svc'],
      { ...IN_CLUSTER, POD_IP: '10.1.2.3' },
    );
    expect(config.certs).toMatchObject({
      source: 'csr',
      namespace: 'tunnel-system',
      certLifetimeMs: 720 * 3_600_000,
      sans: ['localhost', '127.0.0.1', '10.1.2.3', 'tunnel.example.com', '10.0.0.9', 'fe.tunnel-system.svc'],
    });
  });

  it('--ca-reload-interval: how often csr mode re-reads the CA Secret; at least 1s', () => {
    expect(server([...serverFiles(), '--ca-reload-interval=30s']).config.certs?.caReloadMs).toBe(30_000);
    expect(refusal('server', [...serverFiles(), '--ca-reload-interval=500ms'])).toBe('invalid value "500ms" for --ca-reload-interval: must be at least 1s');
  });

  it('tunnel ca <action>: the subcommand, with the server\'s --kubeconfig/--namespace names and defaults', () => {
    expect(parseCommandLine(['ca', 'status'], IN_CLUSTER)).toEqual({ mode: 'ca', action: 'status', kubeconfig: '', namespace: 'kube-system', output: 'text', includeUnexpired: false });
    expect(parseCommandLine(['ca', '--namespace', 'tunnel-system', 'prune', '-o', 'json', '--include-unexpired'], IN_CLUSTER)).toMatchObject({
      action: 'prune',
      namespace: 'tunnel-system',
      output: 'json',
      includeUnexpired: true,
    });
    expect(parseCommandLine(['ca', 'stage', '--help'], {})).toMatchObject({ mode: 'help' });
    expect(() => parseCommandLine(['ca', 'stage', 'promote'], IN_CLUSTER)).toThrow('one action expected after ca, got "stage" "promote"');
  });

  it('csr refuses the certificate file flags, and needs --cert-dir and the Kubernetes API', () => {
    expect(refusal('server', ['--cert-source=csr', `--cert-dir=${files.dir}`, ...serverFiles()])).toBe(
      "--cluster-cert cannot be combined with --cert-source=csr: the server's certificate comes from the CSR API",
    );
    expect(refusal('server', ['--cert-source=csr'])).toMatch(/^--cert-source=csr needs --cert-dir/);
    expect(refusal('server', ['--cert-source=csr', `--cert-dir=${files.dir}`], {})).toMatch(
      /^--cert-source=csr runs the tunnel signer against the Kubernetes API: set --kubeconfig, or run in a cluster/,
    );
  });

  it('refuses an unknown source and a lifetime under 10m', () => {
    expect(refusal('server', ['--cert-source=vault', ...serverFiles()])).toBe('invalid value "vault" for --cert-source: expected one of files, csr');
    expect(refusal('server', ['--cert-lifetime=5m', ...serverFiles()])).toBe('invalid value "5m" for --cert-lifetime: must be at least 10m');
  });

  it('env TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1 lowers the shortest --cert-lifetime to 1s on both roles (tests of rotation)', () => {
    const short = { ...IN_CLUSTER, TUNNEL_ALLOW_SHORT_CERT_LIFETIME: '1' };
    expect(server(['--cert-lifetime=6s', ...serverFiles()], short).config.certs?.certLifetimeMs).toBe(6_000);
    expect(agent(['--cert-lifetime=6s'], short).config.certs?.certLifetimeMs).toBe(6_000);
    expect(refusal('server', ['--cert-lifetime=500ms', ...serverFiles()], short)).toBe('invalid value "500ms" for --cert-lifetime: must be at least 1s');
    expect(refusal('agent', ['--cert-lifetime=6s'], { TUNNEL_ALLOW_SHORT_CERT_LIFETIME: 'yes' })).toBe('invalid value "6s" for --cert-lifetime: must be at least 10m');
  });
});

describe('agent certificate flags', () => {
  it('csr: the agent id and cluster name come from host=, and nothing else may be claimed', () => {
    const { config } = agent([...csrAgent(), '--agent-identifiers=host=cluster-a']);
    expect(config).toMatchObject({ agentID: 'cluster-a', clusterName: 'cluster-a', certs: { source: 'csr', bootstrapTokenPath: files.token } });
    expect(refusal('agent', [...csrAgent(), '--cluster-name=cluster-a', '--agent-id=node-1'])).toBe(
      '--agent-id "node-1" differs from the cluster name "cluster-a": with --cert-source=csr the server lets the certificate CN=tunnel-agent:cluster-a use agent id "cluster-a" only',
    );
    expect(refusal('agent', [...csrAgent(), '--cluster-name=cluster-a', '--agent-identifiers=host=cluster-b'])).toBe(
      '--agent-identifiers host=cluster-b is not the cluster name "cluster-a": with --cert-source=csr the certificate allows host=cluster-a only',
    );
  });

  it('csr needs the bootstrap material and a cluster name', () => {
    expect(refusal('agent', ['--cert-source=csr', `--cert-dir=${files.dir}`, `--ca-cert=${files.ca}`, '--cluster-name=c'])).toMatch(
      /^--cert-source=csr needs --bootstrap-token-path/,
    );
    expect(refusal('agent', ['--cert-source=csr', `--cert-dir=${files.dir}`, `--bootstrap-token-path=${files.token}`, '--cluster-name=c'])).toMatch(
      /^--cert-source=csr needs --ca-cert/,
    );
    expect(refusal('agent', csrAgent())).toMatch(/^--cert-source=csr needs the cluster name/);
    expect(refusal('agent', [...csrAgent(), '--cluster-name=Cluster_A'])).toMatch(/^invalid cluster name "Cluster_A"/);
    expect(refusal('agent', [...csrAgent(), '--cluster-name=c', `--agent-cert=${files.cert}`, `--agent-key=${files.key}`])).toMatch(
      /^--agent-cert cannot be combined with --cert-source=csr/,
    );
  });
});

describe('hook flags', () => {
  it('repeatable providers, modules and options (values keep their commas); provider flags with defaults', () => {
    const { config } = agent([
      '--hook-provider=example',
      '--hook-provider=tkestack',
      `--hook-module=${hookModule}`,
      '--hook-option=zones=a,b',
      '--hook-option=tier=gold',
      '--hook-timeout=5s',
      '--hook-failure-policy=retry',
      '--credential-token-source=secret',
    ]);
    expect(config.hooks).toMatchObject({
      providers: ['example', 'tkestack'],
      modules: [hookModule],
      timeoutMs: 5000,
      failurePolicy: 'retry',
      options: {
        zones: 'a,b',
        tier: 'gold',
        'credential-token-source': 'secret',
        'credential-service-account': 'tunnel-system/tunnel-credential',
        'credential-namespace': 'tke-anp-tunnel',
      },
    });
    expect(server([...serverFiles(), '--hook-provider=example']).config.hooks).toEqual({ providers: ['example'], modules: [], options: {}, timeoutMs: 30_000 });
  });

  it('refuses bad values, naming the flag', () => {
    expect(refusal('agent', ['--hook-failure-policy=later'])).toBe('invalid value "later" for --hook-failure-policy: must be one of fail, ignore, retry');
    expect(refusal('agent', ['--hook-option=novalue'])).toBe('invalid value "novalue" for --hook-option: must be KEY=VALUE');
    expect(refusal('agent', ['--hook-module=/no/such/hook.mjs'])).toBe('--hook-module: file "/no/such/hook.mjs" does not exist');
    expect(refusal('agent', ['--credential-token-source=vault'])).toBe('invalid value "vault" for --credential-token-source: expected one of request, secret, file');
    expect(refusal('agent', ['--credential-service-account=tunnel-credential'])).toBe(
      'invalid value "tunnel-credential" for --credential-service-account: must be NAMESPACE/NAME',
    );
    expect(refusal('agent', ['--credential-token-ttl=5m'])).toBe('invalid value "5m" for --credential-token-ttl: must be at least 10m');
    expect(refusal('server', ['--hook-failure-policy=fail', ...serverFiles()])).toBe('flag --hook-failure-policy is an agent flag; it is not accepted with --mode=server');
  });
});
