/**
 * `tunnel ca <status|stage|promote|prune>` through the built CLI, as a child
 * process, against the fake Kubernetes API: the three rotation steps as an
 * operator runs them, what each prints, and the clear refusals (nothing
 * staged, no Secret, no permission, a bad command line).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { TunnelCa } from '../../src/certs/tunnel-ca.js';
import { createSecretStore } from '../../src/kube/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { runCa } from '../support/ca-cli.js';

interface CaViewJson {
  role: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  expired: boolean;
}
interface StatusJson {
  secret: string;
  signing: CaViewJson;
  staged: CaViewJson | null;
  bundle: CaViewJson[];
  action?: string;
  changed?: boolean;
  message?: string;
  next?: string;
}

let fake: FakeKube;
let kubeconfig: string;

beforeAll(async () => {
  fake = await startFakeKube({ namespaces: ['tunnel-system', 'empty-ns'] });
  kubeconfig = fake.kubeconfigPath;
  // The CA as a server creates it at its first start (TunnelCa.ensure, what the signer does).
  await new TunnelCa({ secrets: createSecretStore(fake.kubeConfig()), logger: silentLogger(), namespace: 'tunnel-system' }).ensure();
});
afterAll(() => fake.close());

const secretData = (ns: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries((fake.store.mustGet('secrets', ns, 'tunnel-ca') as unknown as { data: Record<string, string> }).data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
  );

async function json(args: string[]): Promise<StatusJson> {
  const r = await runCa([...args, `--kubeconfig=${kubeconfig}`, '--namespace=tunnel-system', '--output=json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

describe('tunnel ca: a full rotation through the CLI', () => {
  let first: StatusJson;

  it('status on a fresh CA: the signing CA, no staged CA, a bundle of one (text and json)', async () => {
    const text = await runCa(['status', `--kubeconfig=${kubeconfig}`, '--namespace', 'tunnel-system']);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    const signing = new X509Certificate(secretData('tunnel-system')['tls.crt']!);
    expect(text.stdout).toContain('CA Secret tunnel-system/tunnel-ca');
    expect(text.stdout).toMatch(new RegExp(`^signing CA: CN=tunnel\\.tkestack\\.io CA .*serial ${signing.serialNumber}  valid \\S+ to \\S+$`, 'm'));
    expect(text.stdout).toMatch(/^staged CA: {2}none$/m);
    expect(text.stdout).toMatch(/^trust bundle \(ca-bundle\.crt, 1 CA\):$/m);
    expect(text.stdout).toMatch(new RegExp(`^  signing  CN=.*serial ${signing.serialNumber}`, 'm'));
    first = await json(['status']);
    expect(first.secret).toBe('tunnel-system/tunnel-ca');
    expect(first.signing).toMatchObject({ role: 'signing', serial: signing.serialNumber, expired: false, notAfter: new Date(signing.validTo).toISOString() });
    expect(first.staged).toBeNull();
    expect(first.bundle.map((b) => [b.role, b.serial])).toEqual([['signing', signing.serialNumber]]);
  });

  let stagedSerial = '';
  it('stage: the bundle has two CAs, the signing CA is unchanged; it says what to do next; a second stage changes nothing', async () => {
    const r = await runCa(['stage', `--kubeconfig=${kubeconfig}`, '--namespace=tunnel-system']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^staged a new CA \(serial [0-9A-F]+\): it is in the trust bundle and signs nothing yet$/m);
    expect(r.stdout).toContain("copy the new trust bundle into every managed cluster's bootstrap Secret");
    expect(r.stdout).toContain('--ca-reload-interval');
    expect(r.stdout).toContain('3) tunnel ca promote');
    const s = await json(['status']);
    expect(s.signing.serial).toBe(first.signing.serial);
    expect(s.staged).not.toBeNull();
    stagedSerial = s.staged!.serial;
    expect(s.bundle.map((b) => [b.role, b.serial])).toEqual([
      ['signing', first.signing.serial],
      ['staged', stagedSerial],
    ]);
    // The Secret itself: tls.crt unchanged, next.crt the staged CA, both in ca-bundle.crt.
    const data = secretData('tunnel-system');
    expect(new X509Certificate(data['tls.crt']!).serialNumber).toBe(first.signing.serial);
    expect(new X509Certificate(data['next.crt']!).serialNumber).toBe(stagedSerial);

    const again = await json(['stage']);
    expect(again).toMatchObject({ action: 'stage', changed: false });
    expect(again.message).toBe(`a CA is already staged (serial ${stagedSerial}); nothing changed`);
    expect(again.staged!.serial).toBe(stagedSerial);
  });

  it('promote: the staged CA signs, the old one stays in the bundle; a second promote is refused (exit 1, one line)', async () => {
    const r = await runCa(['promote', `--kubeconfig=${kubeconfig}`, '--namespace=tunnel-system']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`promoted CA serial ${stagedSerial}: it signs every new certificate from now on; the previous CA (serial ${first.signing.serial}) stays in the trust bundle`);
    expect(r.stdout).toContain('tunnel ca prune --include-unexpired');
    const s = await json(['status']);
    expect(s.signing.serial).toBe(stagedSerial);
    expect(s.staged).toBeNull();
    expect(s.bundle.map((b) => [b.role, b.serial])).toEqual([
      ['retired', first.signing.serial],
      ['signing', stagedSerial],
    ]);
    expect(secretData('tunnel-system')['next.crt']).toBeUndefined();

    const twice = await runCa(['promote', `--kubeconfig=${kubeconfig}`, '--namespace=tunnel-system']);
    expect(twice.code).toBe(1);
    expect(twice.stdout).toBe('');
    expect(twice.stderr).toBe('tunnel ca promote: CA Secret tunnel-system/tunnel-ca has no staged CA to promote; run tunnel ca stage first (and distribute the bundle before promoting)\n');
  });

  it('prune keeps the signing and staged CAs: an unexpired retired CA stays by default, --include-unexpired drops it', async () => {
    const kept = await runCa(['prune', `--kubeconfig=${kubeconfig}`, '--namespace=tunnel-system']);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(/^nothing to prune: 1 retired CA has not expired \(tunnel ca prune --include-unexpired drops it/m);
    expect((await json(['status'])).bundle).toHaveLength(2);

    const staged = await json(['stage']); // a third CA, staged, must survive the prune too
    const third = staged.staged!.serial;
    const pruned = await json(['prune', '--include-unexpired']);
    expect(pruned).toMatchObject({ action: 'prune', changed: true, message: 'removed 1 retired CA from the trust bundle; the signing CA and the staged CA stay' });
    expect(pruned.bundle.map((b) => [b.role, b.serial])).toEqual([
      ['signing', stagedSerial],
      ['staged', third],
    ]);
    const again = await json(['prune', '--include-unexpired']);
    expect(again).toMatchObject({ changed: false, message: 'nothing to prune: the bundle holds only the signing CA and the staged CA' });
  });
});

describe('tunnel ca: refusals', () => {
  it('no Secret in --namespace: exit 1, one line naming the Secret and the flags to check', async () => {
    const r = await runCa(['status', `--kubeconfig=${kubeconfig}`, '--namespace=empty-ns']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toBe(
      `tunnel ca status: CA Secret empty-ns/tunnel-ca does not exist: check --namespace (the server's --namespace) and --kubeconfig ${kubeconfig}; a server with --cert-source=csr creates it at its first start\n`,
    );
  });

  it('RBAC 403 from the API: exit 1, one line naming the permission needed', async () => {
    fake.addUser({ name: 'viewer', token: 'viewer-token', groups: [] });
    fake.allow('viewer', ['get', 'list'], ['configmaps']);
    const viewer = fake.writeKubeconfig({ user: 'viewer' });
    const r = await runCa(['stage', `--kubeconfig=${viewer}`, '--namespace=tunnel-system']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tunnel ca stage: read Secret tunnel-system\/tunnel-ca: .*forbidden.*viewer/);
    expect(r.stderr).toContain(`(the identity of --kubeconfig ${viewer} needs get and update on Secret tunnel-system/tunnel-ca:`);

    // get but not update: stage reads, then its update is refused; nothing changed.
    fake.allowRule('viewer', { verbs: ['get'], resources: ['secrets'], namespaces: ['tunnel-system'] });
    const before = fake.store.mustGet('secrets', 'tunnel-system', 'tunnel-ca').metadata.resourceVersion;
    const promote = await runCa(['promote', `--kubeconfig=${viewer}`, '--namespace=tunnel-system']);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/^tunnel ca promote: .*forbidden.*needs get and update on Secret tunnel-system\/tunnel-ca/);
    expect(fake.store.mustGet('secrets', 'tunnel-system', 'tunnel-ca').metadata.resourceVersion).toBe(before);
  });

  it.each([
    [[], /^tunnel: missing action: tunnel ca status\|stage\|promote\|prune \(see tunnel ca --help\)$/],
    [['rotate'], /^tunnel: unknown action "rotate" for tunnel ca: expected status, stage, promote, prune$/],
    [['promte'], /did you mean promote\?$/],
    [['status', '--namespce=x'], /^tunnel: unknown flag --namespce for tunnel ca \(did you mean --namespace\?\)/],
    [['status', '--output=yaml'], /--output/],
    [['stage', '--include-unexpired'], /^tunnel: --include-unexpired is a flag of tunnel ca prune, not of tunnel ca stage$/],
    [['status', '--kubeconfig=/nonexistent/kubeconfig'], /^tunnel: --kubeconfig: file "\/nonexistent\/kubeconfig" does not exist$/],
    [['status'], /^tunnel: ca status reads the CA Secret through the Kubernetes API: set --kubeconfig, or run in a cluster/],
  ])('bad command line %j: exit 2 with one line', async (args, message) => {
    const r = await runCa(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd()).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--help prints the procedure and the flags, exit 0', async () => {
    const r = await runCa(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tunnel ca <status\|stage\|promote\|prune> \[flags\]/);
    for (const f of ['--kubeconfig', '--namespace', '--output', '--include-unexpired']) expect(r.stdout).toContain(f);
    expect(r.stdout).toMatch(/\(default\s+"kube-system"\)/);
  });
});
