/**
 * @kubernetes/client-node costs ~75 MiB of RSS once imported: the built CLI
 * loads it only when a Kubernetes API is used. Each child runs with a
 * preload (test/fixtures/trace-kube-client.mjs) whose module resolve hook
 * writes `KUBE_CLIENT_LOADED` on stderr when anything resolves inside
 * node_modules/@kubernetes/client-node, and `KUBE_CLIENT_TRACE active` at
 * start. A files-mode server and agent, connected and ready, never load it;
 * a server with token authentication (TokenReview against the fake
 * kube-apiserver) does, and still accepts its agent, which does not.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeDevPki, type DevPkiFiles } from '../../src/certs/dev-ca.js';
import { startFakeKube } from '../support/fake-kube/index.js';
import { type CliProc, httpGet, serverAgents, startAgent, startCli, startServer, stopAll, waitStatus } from '../support/cli-procs.js';
import { fixture } from '../support/paths.js';

const traced: NodeJS.ProcessEnv = {
  NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(fixture('trace-kube-client.mjs')).href}`.trim(),
};

const traceActive = (p: CliProc): boolean => p.lines.some((l) => l.level === 'raw' && l.message === 'KUBE_CLIENT_TRACE active');
const kubeLoads = (p: CliProc): string[] =>
  p.lines.filter((l) => l.level === 'raw' && l.message.startsWith('KUBE_CLIENT_LOADED')).map((l) => l.message);

let dir: string;
let pki: DevPkiFiles;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tunnel-lazy-kube-'));
  pki = await writeDevPki(path.join(dir, 'pki'), { agentID: 'cluster-a' });
});

afterEach(() => stopAll());

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Kubernetes client is loaded only when a Kubernetes API is used', () => {
  it('is not loaded by a files-mode server and agent, connected and ready', async () => {
    const server = await startServer({ pki, uds: path.join(dir, 'files.socket'), env: traced });
    const agent = await startAgent({ pki, agentPort: server.agentPort, agentID: 'cluster-a', env: traced });
    await waitStatus(server.healthPort, '/readyz', 200);
    await waitStatus(agent.healthPort, '/readyz', 200);
    expect((await serverAgents(server)).map((a) => a.id)).toEqual(['cluster-a']);
    // Whatever runs just after connecting (timers, first renewals) has had its chance.
    await new Promise((r) => setTimeout(r, 500));
    expect(traceActive(server.proc)).toBe(true);
    expect(traceActive(agent.proc)).toBe(true);
    expect(kubeLoads(server.proc)).toEqual([]);
    expect(kubeLoads(agent.proc)).toEqual([]);
  });

  it('is loaded by a server with token authentication (TokenReview), which accepts its agent', async () => {
    const audience = 'system:konnectivity-server';
    const fake = await startFakeKube();
    try {
      fake.store.create('serviceaccounts', { metadata: { namespace: 'kube-system', name: 'konnectivity-agent' } });
      const token = path.join(dir, 'token');
      writeFileSync(token, fake.issueToken('kube-system', 'konnectivity-agent', { audiences: [audience] }));
      // As cli-roles.test.ts starts it: no --cluster-ca-cert, agents authenticate with ServiceAccount tokens.
      const server = startCli(
        'server',
        [
          '--mode=server',
          `--uds-name=${path.join(dir, 'token.socket')}`,
          '--agent-port=0',
          '--agent-bind-address=127.0.0.1',
          '--health-port=0',
          '--health-bind-address=127.0.0.1',
          '--admin-port=0',
          `--cluster-cert=${pki.serverCert}`,
          `--cluster-key=${pki.serverKey}`,
          '--agent-namespace=kube-system',
          '--agent-service-account=konnectivity-agent',
          `--authentication-audience=${audience}`,
          `--kubeconfig=${fake.kubeconfigPath}`,
        ],
        traced,
      );
      const sl = await server.listening();
      expect(kubeLoads(server)).toHaveLength(1);
      expect(kubeLoads(server)[0]).toContain('@kubernetes/client-node');

      // The agent authenticates with the token; it needs no Kubernetes API itself.
      const agent = startCli(
        'agent',
        [
          '--mode=agent',
          '--agent-id=cluster-a',
          '--proxy-server-host=127.0.0.1',
          `--proxy-server-port=${sl['agentPort'] as number}`,
          `--ca-cert=${pki.caCert}`,
          `--service-account-token-path=${token}`,
          '--health-server-host=127.0.0.1',
          '--health-server-port=0',
          '--admin-server-port=0',
        ],
        traced,
      );
      const al = await agent.listening();
      await waitStatus(sl['healthPort'] as number, '/readyz', 200);
      await waitStatus(al['healthPort'] as number, '/readyz', 200);
      const agents = await httpGet(sl['adminPort'] as number, '/agents');
      expect(agents.body).toContain('cluster-a');
      expect(fake.requests.some((r) => r.path.includes('tokenreviews'))).toBe(true);
      expect(traceActive(agent)).toBe(true);
      expect(kubeLoads(agent)).toEqual([]);
    } finally {
      await stopAll();
      await fake.close();
    }
  });
});
