/**
 * Pull mode's flags through the real command-line parser: what lands in the
 * config, the defaults, and refusals that name the flag.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCommandLine } from '../../../src/cli/parse.js';
import { UsageError } from '../../../src/cli/usage-error.js';

let dir: string;
let cert: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pull-cli-'));
  cert = path.join(dir, 'f.pem');
  writeFileSync(cert, 'x');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const server = (extra: string[], env: NodeJS.ProcessEnv = {}) => {
  const cmd = parseCommandLine(['--mode=server', '--uds-name=/tmp/x.sock', `--cluster-cert=${cert}`, `--cluster-key=${cert}`, ...extra], env);
  if (cmd.mode !== 'server') throw new Error('not server');
  return cmd.config.pull!;
};
const agent = (extra: string[], env: NodeJS.ProcessEnv = {}) => {
  const cmd = parseCommandLine(['--mode=agent', ...extra], env);
  if (cmd.mode !== 'agent') throw new Error('not agent');
  return cmd.config.pull!;
};
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof UsageError) return e.message;
    throw e;
  }
  throw new Error('accepted');
};

describe('server pull flags', () => {
  it('defaults: the in-cluster apiserver as kubernetes in a pod, allowed to every authenticated agent', () => {
    const c = server([], { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    expect(c.targets).toEqual([{ name: 'kubernetes', host: '10.96.0.1', port: 443 }]);
    expect(c.allow).toEqual([{ identity: '*', targets: ['kubernetes'] }]);
    expect(c.maxConnectionsPerAgent).toBe(256);
    expect(c.dialTimeoutMs).toBe(10_000);
    expect(server([]).targets).toEqual([]);
  });

  it('repeated targets and allow rules, commas kept inside a rule', () => {
    const c = server([
      '--pull-target=norm=norm.platform.svc:80',
      '--pull-target=kubernetes=127.0.0.1:6443',
      '--pull-allow=cluster-a=norm,kubernetes',
      '--pull-allow=*=kubernetes',
      '--pull-max-connections-per-agent=8',
      '--pull-dial-timeout=3s',
    ]);
    expect(c.targets.map((t) => t.name)).toEqual(['norm', 'kubernetes']);
    expect(c.allow).toEqual([
      { identity: 'cluster-a', targets: ['norm', 'kubernetes'] },
      { identity: '*', targets: ['kubernetes'] },
    ]);
    expect(c.maxConnectionsPerAgent).toBe(8);
    expect(c.dialTimeoutMs).toBe(3000);
  });

  it('refuses bad values, naming the flag', () => {
    expect(refusal(() => server(['--pull-target=norm']))).toMatch(/^invalid value for --pull-target: "norm" is not NAME=HOST:PORT/);
    expect(refusal(() => server(['--pull-target=n=a:1', '--pull-target=n=b:2']))).toMatch(/--pull-target: target "n" is given more than once/);
    expect(refusal(() => server(['--pull-allow=norm']))).toMatch(/^invalid value for --pull-allow: "norm" is not IDENTITY=NAME/);
    expect(refusal(() => server(['--pull-max-connections-per-agent=0']))).toMatch(/--pull-max-connections-per-agent/);
  });
});

describe('agent pull flags', () => {
  it('port forwards, the CONNECT proxy and the meta KubeConfig settings', () => {
    const c = agent([
      '--pull-listen=kubernetes=0.0.0.0:6443',
      '--pull-listen=norm=:8080',
      '--pull-proxy=127.0.0.1:3128',
      `--pull-kube-ca-cert=${cert}`,
      `--pull-kube-token-path=${cert}`,
    ]);
    expect(c.listen).toEqual([
      { name: 'kubernetes', host: '0.0.0.0', port: 6443 },
      { name: 'norm', host: '', port: 8080 },
    ]);
    expect(c.proxy).toEqual({ host: '127.0.0.1', port: 3128 });
    expect(c.kube).toEqual({ target: 'kubernetes', caCert: cert, tokenPath: cert, tlsServerName: '' });
    expect(agent([])).toEqual({ listen: [], kube: { target: 'kubernetes', caCert: '', tokenPath: '', tlsServerName: '' } });
  });

  it('refuses bad values, naming the flag', () => {
    expect(refusal(() => agent(['--pull-listen=6443']))).toMatch(/--pull-listen: expected NAME=ADDR:PORT/);
    expect(refusal(() => agent(['--pull-listen=Kube=:6443']))).toMatch(/target name "Kube" is not usable/);
    expect(refusal(() => agent(['--pull-listen=a=:1', '--pull-listen=a=:2']))).toMatch(/target "a" is forwarded twice/);
    expect(refusal(() => agent(['--pull-listen=a=:1', '--pull-listen=b=:1']))).toMatch(/:1 is used twice/);
    expect(refusal(() => agent(['--pull-proxy=3128']))).toMatch(/--pull-proxy: expected ADDR:PORT/);
    expect(refusal(() => agent(['--pull-proxy=:0']))).toMatch(/port 0 \(an ephemeral port\) only with env TUNNEL_ALLOW_EPHEMERAL_PORTS=1/);
    expect(refusal(() => agent(['--pull-kube-ca-cert=/no/such/file']))).toMatch(/--pull-kube-ca-cert: file "\/no\/such\/file" does not exist/);
    expect(agent(['--pull-proxy=:0'], { TUNNEL_ALLOW_EPHEMERAL_PORTS: '1' }).proxy).toEqual({ host: '', port: 0 });
  });
});
