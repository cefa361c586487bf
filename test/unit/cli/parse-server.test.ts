import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { parseCommandLine, type ParsedCommand, type ServerCommand } from '../../../src/cli/parse.js';
import { UsageError } from '../../../src/cli/usage-error.js';
import { SERVER_DEFAULTS } from '../../../src/server/defaults.js';
import { makeFlagFiles, type FlagFiles } from './fixture-files.js';

let files: FlagFiles;
beforeAll(() => {
  files = makeFlagFiles();
});
afterAll(() => files.remove());

/** A valid server with only a Unix socket frontend. */
const udsServer = (): string[] => [
  '--mode=server',
  `--uds-name=${path.join(files.dir, 'konnectivity-server.socket')}`,
  `--cluster-cert=${files.cert}`,
  `--cluster-key=${files.key}`,
];
/** A valid server with the TCP (mTLS) frontend. */
const tcpServer = (): string[] => [
  '--mode=server',
  `--server-cert=${files.cert}`,
  `--server-key=${files.key}`,
  `--server-ca-cert=${files.ca}`,
  `--cluster-cert=${files.cert}`,
  `--cluster-key=${files.key}`,
];

function server(args: string[], env: NodeJS.ProcessEnv = {}): ServerCommand {
  const cmd: ParsedCommand = parseCommandLine(args, env);
  if (cmd.mode !== 'server') throw new Error(`expected server, got ${cmd.mode}`);
  return cmd;
}

/** The UsageError message of a refused command line. */
function refusal(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCommandLine(args, env);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).code).toBe('ERR_USAGE');
    expect((e as UsageError).exitCode).toBe(2);
    return (e as UsageError).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

describe('tunnel --mode=server: defaults and value formats', () => {
  it('gives upstream defaults for everything not set', () => {
    const { config, warnings } = server(tcpServer());
    expect(config).toMatchObject({
      serverPort: 8090,
      agentPort: 8091,
      healthPort: 8092,
      adminPort: 8095,
      adminBindAddress: '127.0.0.1',
      serverBindAddress: '',
      keepaliveTimeMs: 3_600_000,
      frontendKeepaliveTimeMs: 3_600_000,
      xfrChannelSize: 10,
      proxyStrategies: ['default'],
      serverCount: 1,
      deleteExistingUdsFile: true,
      mode: 'grpc',
      tlsMinVersion: 'TLSv1.2',
      cipherSuites: [],
      backendDialTimeoutMs: 0,
      gracefulShutdownTimeoutMs: 0,
      tcpFrontend: true,
      allowEphemeralPorts: false,
    });
    expect(config.serverID).toMatch(/^[0-9a-f-]{36}$/);
    expect(warnings).toEqual([]);
  });

  it('takes --flag value and --flag=value alike', () => {
    const a = server([...tcpServer(), '--agent-port', '9001', '--keepalive-time', '30s', '--server-id', 'x']).config;
    const b = server([...tcpServer(), '--agent-port=9001', '--keepalive-time=30s', '--server-id=x']).config;
    expect(a.agentPort).toBe(9001);
    expect(a.keepaliveTimeMs).toBe(30_000);
    expect({ ...a }).toEqual({ ...b });
  });

  it('lets the last of a repeated flag win, as pflag does', () => {
    expect(server([...tcpServer(), '--agent-port=9001', '--agent-port=9002']).config.agentPort).toBe(9002);
  });

  it.each([
    ['0', 0],
    ['300ms', 300],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
  ])('reads --graceful-shutdown-timeout=%s as %d ms', (text, ms) => {
    expect(server([...tcpServer(), `--graceful-shutdown-timeout=${text}`]).config.gracefulShutdownTimeoutMs).toBe(ms);
  });

  it('refuses a duration without unit, naming the flag', () => {
    expect(refusal([...tcpServer(), '--backend-dial-timeout=5'])).toMatch(/--backend-dial-timeout.*no unit/);
    expect(refusal([...tcpServer(), '--keepalive-time=-1s'])).toMatch(/--keepalive-time: must not be negative/);
  });

  it.each([
    [['--delete-existing-uds-file'], true],
    [['--delete-existing-uds-file=false'], false],
    [['--delete-existing-uds-file=f'], false],
    [['--delete-existing-uds-file=0'], false],
    [['--delete-existing-uds-file=1'], true],
    [['--delete-existing-uds-file=T'], true],
  ])('reads bool %j', (flag, value) => {
    expect(server([...udsServer(), ...flag]).config.deleteExistingUdsFile).toBe(value);
  });

  it('refuses a bool value that Go would refuse', () => {
    expect(refusal([...udsServer(), '--delete-existing-uds-file=yes'])).toMatch(/--delete-existing-uds-file: expected true or false/);
  });

  it('reads comma lists: --proxy-strategies and --cipher-suites (repeatable)', () => {
    const { config } = server([
      ...tcpServer(),
      '--proxy-strategies=destHost,default',
      '--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      '--cipher-suites',
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    ]);
    expect(config.proxyStrategies).toEqual(['destHost', 'default']);
    expect(config.cipherSuites).toEqual([
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-AES128-GCM-SHA256',
    ]);
  });

  it('maps --tls-min-version and warns below TLS 1.2', () => {
    expect(server([...tcpServer(), '--tls-min-version=VersionTLS13']).config.tlsMinVersion).toBe('TLSv1.3');
    const old = server([...tcpServer(), '--tls-min-version=VersionTLS10']);
    expect(old.config.tlsMinVersion).toBe('TLSv1');
    expect(old.warnings.join('\n')).toMatch(/--tls-min-version=VersionTLS10 is below TLS 1.2/);
  });

  it('takes the server id from PROXY_SERVER_ID, the flag winning over it', () => {
    expect(server(tcpServer(), { PROXY_SERVER_ID: 'from-env' }).config.serverID).toBe('from-env');
    expect(server([...tcpServer(), '--server-id=from-flag'], { PROXY_SERVER_ID: 'from-env' }).config.serverID).toBe('from-flag');
    const a = server(tcpServer()).config.serverID;
    const b = server(tcpServer()).config.serverID;
    expect(a).not.toBe(b);
  });

  it('reads --mode=grpc and --mode=http-connect as server, with a notice that both are served', () => {
    for (const mode of ['grpc', 'http-connect']) {
      const cmd = server([...tcpServer().slice(1), `--mode=${mode}`]);
      expect(cmd.config.mode).toBe(mode);
      expect(cmd.notices.join('\n')).toMatch(/both gRPC and HTTP CONNECT/);
    }
    expect(server(tcpServer()).notices).toEqual([]);
  });

  it('maps TUNNEL_ALLOW_EPHEMERAL_PORTS=1 to allowEphemeralPorts and accepts port 0', () => {
    const { config } = server([...tcpServer(), '--server-port=0', '--agent-port=0', '--health-port=0', '--admin-port=0'], {
      TUNNEL_ALLOW_EPHEMERAL_PORTS: '1',
    });
    expect(config).toMatchObject({ serverPort: 0, agentPort: 0, healthPort: 0, adminPort: 0, allowEphemeralPorts: true });
  });

  it('uses the defaults module for everything given no flag', () => {
    const { config } = server(tcpServer());
    for (const key of ['agentPort', 'healthPort', 'adminPort', 'xfrChannelSize', 'keepaliveTimeMs'] as const) {
      expect(config[key]).toBe(SERVER_DEFAULTS[key]);
    }
  });
});

describe('tunnel --mode=server: the frontend', () => {
  it('serves only the Unix socket when --uds-name is given without --server-port', () => {
    const { config } = server(udsServer());
    expect(config.udsName).toMatch(/konnectivity-server\.socket$/);
    expect(config.serverPort).toBe(0);
    expect(config.tcpFrontend).toBe(false);
  });

  it('reads --uds-name with --server-port=0 as upstream does: Unix socket only, no certificates needed', () => {
    const { config } = server([...udsServer(), '--server-port=0']);
    expect(config.tcpFrontend).toBe(false);
  });

  it('serves both when --uds-name and a --server-port are given explicitly; TCP then needs its certificates', () => {
    const both = server([
      ...udsServer(),
      '--server-port=8090',
      `--server-cert=${files.cert}`,
      `--server-key=${files.key}`,
      `--server-ca-cert=${files.ca}`,
    ]).config;
    expect(both).toMatchObject({ serverPort: 8090, tcpFrontend: true });
    expect(refusal([...udsServer(), '--server-port=8090'])).toMatch(/--server-port=8090.*--server-cert/);
  });

  it('serves a Unix socket plus an ephemeral mTLS port under TUNNEL_ALLOW_EPHEMERAL_PORTS=1', () => {
    const env = { TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' };
    const args = [...udsServer(), '--server-port=0', `--server-cert=${files.cert}`, `--server-key=${files.key}`, `--server-ca-cert=${files.ca}`];
    expect(server(args, env).config).toMatchObject({ serverPort: 0, tcpFrontend: true });
    expect(server(args, {}).config.tcpFrontend).toBe(false);
    expect(server(args, {}).warnings.join('\n')).toMatch(/--server-cert has no effect: the TCP frontend is off/);
  });

  it('requires --server-ca-cert with a TCP frontend (since v0.35.0)', () => {
    const args = tcpServer().filter((a) => !a.startsWith('--server-ca-cert'));
    expect(refusal(args)).toMatch(/--server-ca-cert is required with the TCP frontend \(--server-port=8090\)/);
  });

  it('requires the key with the certificate and vice versa', () => {
    expect(refusal(tcpServer().filter((a) => !a.startsWith('--server-key')))).toMatch(/--server-cert needs --server-key/);
    expect(refusal(tcpServer().filter((a) => !a.startsWith('--server-cert')))).toMatch(/--server-key needs --server-cert/);
    expect(refusal(tcpServer().filter((a) => !a.startsWith('--cluster-key')))).toMatch(/--cluster-cert needs --cluster-key/);
    expect(refusal(tcpServer().filter((a) => !a.startsWith('--cluster-cert')))).toMatch(/--cluster-key needs --cluster-cert/);
  });

  it('requires the agent listener certificate', () => {
    const args = tcpServer().filter((a) => !a.startsWith('--cluster-'));
    expect(refusal(args)).toMatch(/--cluster-cert and --cluster-key are required.*--agent-port/);
  });

  it.each(['server-cert', 'server-key', 'server-ca-cert', 'cluster-cert', 'cluster-key', 'cluster-ca-cert', 'kubeconfig'])(
    'names --%s and the path when the file does not exist',
    (flag) => {
      const missing = path.join(files.dir, 'missing', `${flag}.pem`);
      const msg = refusal([...tcpServer(), `--${flag}=${missing}`]);
      expect(msg).toContain(`--${flag}`);
      expect(msg).toContain(missing);
    },
  );
});

describe('tunnel --mode=server: ports', () => {
  it.each(['server-port', 'agent-port', 'health-port', 'admin-port'])('--%s must be within 1024-49151', (flag) => {
    expect(refusal([...tcpServer(), `--${flag}=80`])).toMatch(new RegExp(`--${flag} 80: please do not use reserved port 80; expected 1024-49151`));
    expect(refusal([...tcpServer(), `--${flag}=50000`])).toMatch(new RegExp(`--${flag} 50000: please do not use ephemeral port 50000`));
    expect(server([...tcpServer(), `--${flag}=49151`]).config).toBeDefined();
    expect(server([...tcpServer(), `--${flag}=1024`]).config).toBeDefined();
  });

  it('refuses port 0 without TUNNEL_ALLOW_EPHEMERAL_PORTS=1, saying how to allow it', () => {
    expect(refusal([...tcpServer(), '--agent-port=0'])).toMatch(/--agent-port 0.*TUNNEL_ALLOW_EPHEMERAL_PORTS=1/);
  });

  it('refuses a non-integer port, naming the flag', () => {
    expect(refusal([...tcpServer(), '--health-port=http'])).toMatch(/invalid value "http" for --health-port: expected a whole number/);
  });
});

describe('tunnel --mode=server: agent authentication', () => {
  const tokenAuth = (): string[] => [
    '--agent-namespace=kube-system',
    '--agent-service-account=konnectivity-agent',
    '--authentication-audience=system:konnectivity-server',
    `--kubeconfig=${files.kubeconfig}`,
  ];

  it('accepts the token authentication flags together', () => {
    const { config } = server([...tcpServer(), ...tokenAuth()]);
    expect(config).toMatchObject({
      agentNamespace: 'kube-system',
      agentServiceAccount: 'konnectivity-agent',
      authenticationAudience: 'system:konnectivity-server',
      kubeconfig: files.kubeconfig,
    });
  });

  it.each(['agent-service-account', 'authentication-audience', 'agent-namespace'])('requires --%s with the others', (flag) => {
    const args = [...tcpServer(), ...tokenAuth().filter((a) => !a.startsWith(`--${flag}=`))];
    expect(refusal(args)).toMatch(new RegExp(`--${flag} is required for token authentication`));
  });

  it('needs --kubeconfig unless running in a cluster', () => {
    const args = [...tcpServer(), ...tokenAuth().filter((a) => !a.startsWith('--kubeconfig'))];
    expect(refusal(args)).toMatch(/set --kubeconfig, or run in a cluster/);
    expect(server(args, { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }).config.kubeconfig).toBe('');
  });

  it('cannot be combined with --cluster-ca-cert (upstream rule)', () => {
    expect(refusal([...tcpServer(), ...tokenAuth(), `--cluster-ca-cert=${files.ca}`])).toMatch(
      /--cluster-ca-cert cannot be combined with token authentication/,
    );
  });
});

describe('tunnel --mode=server: other checks', () => {
  it('names an unknown proxy strategy and suggests the right spelling', () => {
    expect(refusal([...tcpServer(), '--proxy-strategies=desthost,default'])).toMatch(
      /--proxy-strategies: unknown strategy "desthost" \(did you mean destHost\?\); expected default, destHost, defaultRoute/,
    );
    expect(refusal([...tcpServer(), '--proxy-strategies='])).toMatch(/--proxy-strategies cannot be empty/);
  });

  it('names an insecure or unknown cipher suite', () => {
    expect(refusal([...tcpServer(), '--cipher-suites=TLS_RSA_WITH_3DES_EDE_CBC_SHA'])).toMatch(
      /--cipher-suites.*TLS_RSA_WITH_3DES_EDE_CBC_SHA is considered insecure/,
    );
    expect(refusal([...tcpServer(), '--cipher-suites=TLS_NOPE'])).toMatch(/--cipher-suites.*TLS_NOPE does not exist/);
  });

  it('refuses a bad --tls-min-version, listing the accepted ones', () => {
    expect(refusal([...tcpServer(), '--tls-min-version=1.2'])).toMatch(/--tls-min-version: expected one of VersionTLS10/);
  });

  it('refuses sizes and counts below 1', () => {
    expect(refusal([...tcpServer(), '--xfr-channel-size=0'])).toMatch(/--xfr-channel-size: must be greater than 0/);
    expect(refusal([...tcpServer(), '--server-count=0'])).toMatch(/--server-count: must be greater than 0/);
    expect(refusal([...tcpServer(), '--frontend-write-channel-size=0'])).toMatch(/--frontend-write-channel-size/);
  });

  it('requires --enable-profiling with --enable-contention-profiling', () => {
    expect(refusal([...tcpServer(), '--enable-contention-profiling'])).toMatch(/--enable-contention-profiling needs --enable-profiling/);
  });

  it('checks --lease-label and maps the lease flags into the config', () => {
    expect(refusal([...tcpServer(), '--lease-label=*notavalidlabel*'])).toMatch(/--lease-label: expected comma-separated key=value/);
    const c = server([...tcpServer(), '--enable-lease-controller', '--lease-namespace=tunnel', '--lease-label=app=tunnel, tier=proxy']).config;
    expect(c).toMatchObject({ enableLeaseController: true, leaseNamespace: 'tunnel', leaseLabels: { app: 'tunnel', tier: 'proxy' } });
    expect(server(tcpServer()).config).toMatchObject({
      enableLeaseController: false,
      leaseNamespace: 'kube-system',
      leaseLabels: { 'k8s-app': 'konnectivity-server' },
    });
  });

  it('warns once per flag that has no effect yet', () => {
    const { warnings } = server([...tcpServer(), '--enable-lease-controller', '--kubeconfig-qps=5', '--kubeconfig-burst=3']);
    expect(warnings).toEqual(['flag --kubeconfig-qps has no effect yet', 'flag --kubeconfig-burst has no effect yet']);
  });

  it('warns that a deprecated flag has no effect', () => {
    expect(server([...tcpServer(), '--warn-on-channel-limit']).warnings.join('\n')).toMatch(
      /flag --warn-on-channel-limit has no effect \(deprecated upstream/,
    );
  });

  it('refuses agent flags in server mode', () => {
    expect(refusal([...tcpServer(), '--proxy-server-host=x'])).toMatch(/flag --proxy-server-host is an agent flag; it is not accepted with --mode=server/);
  });
});

describe('--bind-agent-id-to-cn', () => {
  it('is off by default (upstream agents often share one certificate) and turns on as a Go bool', () => {
    expect(server(tcpServer()).config.bindAgentIdToCn).toBe(false);
    expect(server([...tcpServer(), `--cluster-ca-cert=${files.ca}`, '--bind-agent-id-to-cn']).config.bindAgentIdToCn).toBe(true);
    expect(server([...tcpServer(), '--bind-agent-id-to-cn=false']).config.bindAgentIdToCn).toBe(false);
  });

  it('is refused without client certificates to bind, naming what to set', () => {
    expect(refusal([...tcpServer(), '--bind-agent-id-to-cn'])).toBe(
      '--bind-agent-id-to-cn binds agents to their client certificates, but none are asked for: set --cluster-ca-cert (or use --cert-source=csr)',
    );
  });
});
