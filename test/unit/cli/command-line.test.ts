/**
 * The command line as a whole: modes, unknown flags, help, version, klog
 * flags, and that every upstream flag name is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { AGENT_FLAGS } from '../../../src/cli/agent-flags.js';
import { AGENT_CERT_FLAGS, SERVER_CERT_FLAGS } from '../../../src/cli/cert-flags.js';
import { AGENT_HOOK_FLAGS, SERVER_HOOK_FLAGS } from '../../../src/cli/hook-flags.js';
import { NOT_YET_IMPLEMENTED } from '../../../src/cli/not-yet.js';
import { AGENT_PULL_FLAGS, SERVER_PULL_FLAGS } from '../../../src/cli/pull-flags.js';
import { parseCommandLine, roleFlags, type ParsedCommand } from '../../../src/cli/parse.js';
import { SERVER_FLAGS } from '../../../src/cli/server-flags.js';
import { UsageError } from '../../../src/cli/usage-error.js';
import { makeFlagFiles, type FlagFiles } from './fixture-files.js';

let files: FlagFiles;
beforeAll(() => {
  files = makeFlagFiles();
});
afterAll(() => files.remove());

const serverBase = (): string[] => [
  '--mode=server',
  `--server-cert=${files.cert}`,
  `--server-key=${files.key}`,
  `--server-ca-cert=${files.ca}`,
  `--cluster-cert=${files.cert}`,
  `--cluster-key=${files.key}`,
];

function refusal(args: string[]): string {
  try {
    parseCommandLine(args, {});
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).message;
  }
  throw new Error(`accepted: ${args.join(' ')}`);
}

function text(args: string[]): string {
  const cmd: ParsedCommand = parseCommandLine(args, {});
  if (cmd.mode !== 'help' && cmd.mode !== 'version') throw new Error(`expected text, got ${cmd.mode}`);
  return cmd.text;
}

/**
 * Upstream proxy-server flags (cmd/server/app/options/options.go) with a
 * valid sample value each, and what else they need to be valid.
 */
const UPSTREAM_SERVER_FLAGS: ReadonlyArray<[string, () => string, string[]?]> = [
  ['server-cert', () => files.cert],
  ['server-key', () => files.key],
  ['server-ca-cert', () => files.ca],
  ['cluster-cert', () => files.cert],
  ['cluster-key', () => files.key],
  ['cluster-ca-cert', () => files.ca],
  ['mode', () => 'grpc'],
  ['uds-name', () => path.join(files.dir, 'k.sock')],
  ['delete-existing-uds-file', () => 'false'],
  ['server-port', () => '8090'],
  ['server-bind-address', () => '127.0.0.1'],
  ['agent-port', () => '8132'],
  ['agent-bind-address', () => '0.0.0.0'],
  ['admin-port', () => '8133'],
  ['admin-bind-address', () => '127.0.0.1'],
  ['health-port', () => '8134'],
  ['health-bind-address', () => '0.0.0.0'],
  ['keepalive-time', () => '60s'],
  ['frontend-keepalive-time', () => '60s'],
  ['enable-profiling', () => 'true'],
  ['enable-contention-profiling', () => 'true', ['--enable-profiling']],
  ['server-id', () => 'server-0'],
  ['server-count', () => '3'],
  ['agent-namespace', () => 'kube-system', ['--agent-service-account=konnectivity-agent', '--authentication-audience=system:konnectivity-server', '--kubeconfig=KUBE']],
  ['agent-service-account', () => 'konnectivity-agent', ['--agent-namespace=kube-system', '--authentication-audience=a', '--kubeconfig=KUBE']],
  ['kubeconfig', () => files.kubeconfig],
  ['kubeconfig-qps', () => '5.5'],
  ['kubeconfig-burst', () => '10'],
  ['kube-api-content-type', () => 'application/json'],
  ['authentication-audience', () => 'system:konnectivity-server', ['--agent-namespace=kube-system', '--agent-service-account=a', '--kubeconfig=KUBE']],
  ['proxy-strategies', () => 'destHost,defaultRoute,default'],
  ['cipher-suites', () => 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  ['tls-min-version', () => 'VersionTLS12'],
  ['xfr-channel-size', () => '20'],
  ['frontend-write-channel-size', () => '20'],
  ['enable-lease-controller', () => 'true'],
  ['lease-namespace', () => 'kube-system'],
  ['lease-label', () => 'k8s-app=konnectivity-server,component=proxy'],
  ['graceful-shutdown-timeout', () => '15s'],
  ['backend-dial-timeout', () => '30s'],
  ['warn-on-channel-limit', () => 'true'],
];

/** Upstream proxy-agent flags (cmd/agent/app/options/options.go) with a valid sample value each. */
const UPSTREAM_AGENT_FLAGS: ReadonlyArray<[string, () => string, string[]?]> = [
  ['agent-cert', () => files.cert, [`--agent-key=${'KEY'}`]],
  ['agent-key', () => files.key, [`--agent-cert=${'CERT'}`]],
  ['ca-cert', () => files.ca],
  ['proxy-server-host', () => 'konnectivity-server.kube-system.svc'],
  ['proxy-server-port', () => '8132'],
  ['alpn-proto', () => 'konnectivity'],
  ['health-server-host', () => '0.0.0.0'],
  ['health-server-port', () => '8134'],
  ['admin-bind-address', () => ''],
  ['admin-server-port', () => '8133'],
  ['enable-profiling', () => 'true'],
  ['enable-contention-profiling', () => 'true', ['--enable-profiling']],
  ['agent-id', () => 'node-1'],
  ['agent-identifiers', () => 'ipv4=10.0.0.1&host=node-1'],
  ['sync-interval', () => '1s'],
  ['probe-interval', () => '1s'],
  ['sync-interval-cap', () => '10s'],
  ['keepalive-time', () => '1h'],
  ['service-account-token-path', () => files.token],
  ['warn-on-channel-limit', () => 'true'],
  ['sync-forever', () => 'true'],
  ['xfr-channel-size', () => '150'],
  ['count-server-leases', () => 'true'],
  ['lease-namespace', () => 'kube-system'],
  ['lease-label-selector', () => 'k8s-app=konnectivity-server'],
  ['lease-label', () => 'k8s-app=konnectivity-server'],
  ['server-count-source', () => 'max'],
  ['kubeconfig', () => files.kubeconfig],
  ['kube-api-content-type', () => 'application/json'],
  ['enable-push-service-account-token', () => 'false'],
];

/** klog flags upstream binaries register (normalized to dashes). */
const KLOG_FLAGS: ReadonlyArray<[string, string]> = [
  ['v', '4'],
  ['log-dir', '/var/log'],
  ['log-file', '/var/log/konnectivity.log'],
  ['log-file-max-size', '0'],
  ['logtostderr', 'true'],
  ['alsologtostderr', 'false'],
  ['stderrthreshold', 'ERROR'],
  ['vmodule', 'server=4'],
  ['skip-headers', 'false'],
  ['skip-log-headers', 'false'],
  ['add-dir-header', 'false'],
  ['log-backtrace-at', ':0'],
  ['one-output', 'true'],
  ['legacy-stderr-threshold-behavior', 'true'],
];

const fix = (extra: string[]): string[] =>
  extra.map((a) => a.replace('KEY', files.key).replace('CERT', files.cert).replace('KUBE', files.kubeconfig));

describe('every upstream flag name is accepted', () => {
  const rows = (table: ReadonlyArray<[string, () => string, string[]?]>) =>
    table.map(([flag, value, extra]) => ({ flag, value, extra: extra ?? [] }));

  it.each(rows(UPSTREAM_SERVER_FLAGS))('server: --$flag', ({ flag, value, extra }) => {
    const base = serverBase();
    const args = [...base, `--${flag}=${value()}`, ...fix(extra)];
    if (flag === 'uds-name') args.push('--server-port=8090');
    expect(parseCommandLine(args, {}).mode).toBe('server');
    if (!['mode'].includes(flag) && !['true', 'false'].includes(value())) {
      // the same flag as two words
      const spaced = [...base, `--${flag}`, value(), ...fix(extra)];
      if (flag === 'uds-name') spaced.push('--server-port=8090');
      expect(parseCommandLine(spaced, {}).mode).toBe('server');
    }
  });

  it.each(rows(UPSTREAM_AGENT_FLAGS))('agent: --$flag', ({ flag, value, extra }) => {
    expect(parseCommandLine(['--mode=agent', `--${flag}=${value()}`, ...fix(extra)], {}).mode).toBe('agent');
  });

  it.each(KLOG_FLAGS)('klog, both modes: --%s', (flag, value) => {
    expect(parseCommandLine([...serverBase(), `--${flag}=${value}`], {}).mode).toBe('server');
    expect(parseCommandLine(['--mode=agent', `--${flag}=${value}`], {}).mode).toBe('agent');
  });

  it("accepts klog's underscore spellings and the -v shorthand", () => {
    const a = parseCommandLine(['--mode=agent', '--log_file_max_size=10', '-v', '4'], {});
    const b = parseCommandLine(['--mode=agent', '-v=4'], {});
    expect(a.mode === 'agent' && a.logging.level).toBe('debug');
    expect(b.mode === 'agent' && b.logging.level).toBe('debug');
  });

  it('knows no flag that upstream does not have, apart from ours', () => {
    const certsAndHooks = [...SERVER_CERT_FLAGS, ...SERVER_HOOK_FLAGS, ...AGENT_CERT_FLAGS, ...AGENT_HOOK_FLAGS].map((f) => f.name);
    const ours = ['help', 'version', 'log-level', 'log-format', ...certsAndHooks];
    const pull = (flags: readonly { name: string }[]) => flags.map((f) => f.name);
    const server = new Set([...UPSTREAM_SERVER_FLAGS.map(([f]) => f), ...KLOG_FLAGS.map(([f]) => f), ...ours, 'bind-agent-id-to-cn', ...pull(SERVER_PULL_FLAGS)]);
    const agent = new Set([...UPSTREAM_AGENT_FLAGS.map(([f]) => f), ...KLOG_FLAGS.map(([f]) => f), ...ours, 'mode', 'dial-alias', ...pull(AGENT_PULL_FLAGS)]);
    expect(roleFlags('server').map((f) => f.name).filter((n) => !server.has(n))).toEqual([]);
    expect(roleFlags('agent').map((f) => f.name).filter((n) => !agent.has(n))).toEqual([]);
  });
});

describe('modes, unknown flags, positional words', () => {
  it('asks for --mode when it is missing', () => {
    expect(refusal([])).toBe('missing --mode: pass --mode=server (in the meta cluster) or --mode=agent (in a managed cluster)');
    expect(refusal(['--agent-port=8091'])).toMatch(/missing --mode: pass --mode=server .* or --mode=agent/);
  });

  it('refuses an unknown mode, suggesting the closest', () => {
    expect(refusal(['--mode=agnet'])).toMatch(/invalid value "agnet" for --mode: expected server or agent.*did you mean --mode=agent\?/);
  });

  it('refuses an unknown flag, suggesting the closest flag of the mode', () => {
    expect(refusal([...serverBase(), '--agent-prot=8091'])).toBe(
      'unknown flag --agent-prot (did you mean --agent-port?); see tunnel --mode=server --help',
    );
    expect(refusal(['--mode=agent', '--proxy-sever-host', 'x'])).toMatch(/unknown flag --proxy-sever-host \(did you mean --proxy-server-host\?\)/);
    expect(refusal(['--mode=agent', '--zzzzzzzz'])).toBe('unknown flag --zzzzzzzz; see tunnel --mode=agent --help');
  });

  it('refuses positional words, explaining bool flags take no separate value', () => {
    expect(refusal(['--mode=agent', '--sync-forever', 'true'])).toMatch(/unexpected argument "true".*--sync-forever=true/);
    expect(refusal(['--mode=agent', 'extra'])).toMatch(/unexpected argument "extra"/);
  });

  it('refuses a flag that needs a value and has none', () => {
    expect(refusal(['--mode=agent', '--agent-id'])).toMatch(/flag --agent-id needs a value/);
  });
});

describe('help and version', () => {
  it('server help lists every server flag with its doc and default, grouped', () => {
    const help = text(['--mode=server', '--help']);
    for (const f of roleFlags('server')) expect(help).toContain(`--${f.name}`);
    for (const heading of ['Frontend', 'Agent listener', 'Health and admin', 'TLS:', 'Authentication:', 'High availability', 'Logging:', 'Compatibility only']) {
      expect(help).toContain(heading);
    }
    expect(help).toMatch(/--agent-port int\s+Port agents connect to.*\(default 8091\)/s);
    expect(help).toMatch(/--keepalive-time duration\s+.*\(default 1h0m0s\)/s);
    expect(help).toMatch(/--kubeconfig-qps[^\n]*\n?[^\n]*\[no effect yet\]/);
    expect(help).not.toMatch(/--enable-lease-controller[^\n]*\n?[^\n]*\[no effect yet\]/);
  });

  it('agent help lists every agent flag', () => {
    const help = text(['--help', '--mode=agent']);
    for (const f of roleFlags('agent')) expect(help).toContain(`--${f.name}`);
    expect(help).toMatch(/--xfr-channel-size int\s+.*\(default 150\)/s);
  });

  it('help without a mode lists both modes', () => {
    const help = text(['--help']);
    expect(help).toContain('tunnel --mode=server');
    expect(help).toContain('tunnel --mode=agent');
    expect(help).toContain('--log-level');
    expect(text(['-h'])).toBe(help);
  });

  it('help wins over other errors', () => {
    expect(text(['--mode=agent', '--bogus', '--help'])).toContain('--proxy-server-host');
  });

  it('--version prints the package version', () => {
    expect(text(['--version'])).toMatch(/^tunnel \d+\.\d+\.\d+/);
  });
});

describe('logging flags', () => {
  const logging = (args: string[]) => {
    const cmd = parseCommandLine(['--mode=agent', ...args], {});
    if (cmd.mode !== 'agent') throw new Error('agent expected');
    return { ...cmd.logging, warnings: cmd.warnings };
  };

  it('logs JSON at info to stderr by default', () => {
    expect(logging([])).toEqual({ level: 'info', format: 'json', stderrLevel: 'debug', warnings: [] });
  });

  it('maps -v to a level; --log-level wins', () => {
    expect(logging(['--v=1']).level).toBe('info');
    expect(logging(['--v=2']).level).toBe('debug');
    expect(logging(['--v=4', '--log-level=warn']).level).toBe('warn');
  });

  it('refuses unknown levels and formats, listing the accepted ones', () => {
    expect(refusal(['--mode=agent', '--log-level=verbose'])).toMatch(/--log-level: expected one of error, warn, info, debug/);
    expect(refusal(['--mode=agent', '--log-format=xml'])).toMatch(/--log-format: expected one of json, text/);
    expect(refusal(['--mode=agent', '--stderrthreshold=LOUD'])).toMatch(/--stderrthreshold: expected INFO, WARNING, ERROR or FATAL/);
  });

  it('writes --log-file with --logtostderr=false, stderr keeping lines from --stderrthreshold', () => {
    expect(logging(['--logtostderr=false', '--log-file=/var/log/a.log', '--log-file-max-size=10'])).toMatchObject({
      file: { path: '/var/log/a.log', maxSizeBytes: 10 * 1024 * 1024 },
      stderrLevel: 'error',
    });
    expect(logging(['--logtostderr=false', '--log-file=/a.log', '--stderrthreshold=WARNING']).stderrLevel).toBe('warn');
    expect(logging(['--logtostderr=false', '--log-file=/a.log', '--alsologtostderr']).stderrLevel).toBe('debug');
  });

  it('warns when --log-file has no effect, as klog ignores it with --logtostderr=true', () => {
    const l = logging(['--log-file=/a.log']);
    expect(l.file).toBeUndefined();
    expect(l.warnings.join('\n')).toMatch(/--log-file has no effect with --logtostderr=true/);
  });

  it('warns that klog flags without a mapping have no effect', () => {
    expect(logging(['--vmodule=x=2', '--skip-headers']).warnings).toEqual([
      expect.stringMatching(/^flag --vmodule has no effect \(/),
      expect.stringMatching(/^flag --skip-headers has no effect \(/),
    ]);
  });
});

describe('the list of flags without effect yet', () => {
  it('names only flags of the role', () => {
    const server = new Set(SERVER_FLAGS.map((f) => f.name));
    const agent = new Set(AGENT_FLAGS.map((f) => f.name));
    expect(NOT_YET_IMPLEMENTED.server.filter((n) => !server.has(n))).toEqual([]);
    expect(NOT_YET_IMPLEMENTED.agent.filter((n) => !agent.has(n))).toEqual([]);
  });

  it('does not list a flag that changes the config (it would be wired, not "no effect yet")', () => {
    const base = parseCommandLine(serverBase(), {});
    for (const name of NOT_YET_IMPLEMENTED.server) {
      const spec = SERVER_FLAGS.find((f) => f.name === name)!;
      const value = spec.kind === 'bool' ? 'true' : spec.kind === 'int' || spec.kind === 'float' ? '7' : spec.def || 'x=y';
      const extra = name === 'enable-contention-profiling' ? ['--enable-profiling'] : [];
      const cmd = parseCommandLine([...serverBase(), `--${name}=${value}`, ...extra], {});
      if (cmd.mode !== 'server' || base.mode !== 'server') throw new Error('server expected');
      expect({ ...cmd.config, serverID: '' }).toEqual({ ...base.config, serverID: '' });
    }
  });

  it('help defaults match the config defaults: passing every default changes nothing', () => {
    const withDefaults = (role: 'server' | 'agent'): string[] =>
      (role === 'server' ? SERVER_FLAGS : AGENT_FLAGS)
        .filter((f) => f.def !== '')
        .map((f) => `--${f.name}=${f.def}`);
    const s0 = parseCommandLine(serverBase(), {});
    const s1 = parseCommandLine([...serverBase(), ...withDefaults('server')], {});
    const a0 = parseCommandLine(['--mode=agent'], {});
    const a1 = parseCommandLine(['--mode=agent', ...withDefaults('agent')], {});
    if (s0.mode !== 'server' || s1.mode !== 'server' || a0.mode !== 'agent' || a1.mode !== 'agent') throw new Error('role expected');
    expect({ ...s1.config, serverID: '' }).toEqual({ ...s0.config, serverID: '' });
    expect({ ...a1.config, agentID: '' }).toEqual({ ...a0.config, agentID: '' });
  });
});
