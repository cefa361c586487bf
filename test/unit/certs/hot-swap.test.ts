import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { channelCredentialsFromSource, serverCredentialsFromSource } from '../../../src/certs/grpc-provider.js';
import { openFileSource, type FileSourceOptions } from '../../../src/certs/source-files.js';
import { followSourceOnTlsServer } from '../../../src/certs/tls-server.js';
import { DevCA } from '../../../src/certs/dev-ca.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { nextChange, presentedSerial, tempDir, writeLeaf } from './helpers.js';

const SERVER = { commonName: 'tunnel-server', usage: 'server' as const, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
const CLIENT = { commonName: 'tunnel-agent:c1', usage: 'client' as const };

/** A unary method that answers with the serial of the client certificate seen on its connection. */
const WHO = {
  path: '/test.Who/Serial',
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

function ask(client: grpc.Client): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO.path, WHO.requestSerialize, WHO.responseDeserialize, Buffer.alloc(0), (err, value) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

const opts = (files: Pick<FileSourceOptions, 'certFile' | 'keyFile' | 'caFile'>): FileSourceOptions => ({
  logger: silentLogger(),
  debounceMs: 20,
  pollIntervalMs: 100,
  ...files,
});

describe('hot swap of certificates read from files', () => {
  let ca: DevCA;
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    ca = await DevCA.create('hot-swap CA');
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a grpc-js server and channel use replaced files on new handshakes; an established connection keeps working', async () => {
    const t = tempDir('grpc');
    cleanups.push(t.remove);
    const srvFiles = await writeLeaf(ca, t.dir, 'server', SERVER);
    const cliFiles = await writeLeaf(ca, t.dir, 'client', CLIENT);
    const serverSource = await openFileSource(opts({ certFile: srvFiles.cert, keyFile: srvFiles.key, caFile: srvFiles.ca }));
    const clientSource = await openFileSource(opts({ certFile: cliFiles.cert, keyFile: cliFiles.key, caFile: cliFiles.ca }));
    cleanups.push(() => serverSource.close(), () => clientSource.close());

    const server = new grpc.Server();
    server.addService({ Serial: WHO } as grpc.ServiceDefinition, {
      Serial: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(call.getAuthContext().sslPeerCertificate?.serialNumber ?? 'none')),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentialsFromSource(serverSource), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const newClient = (): grpc.Client =>
      new grpc.Client(`127.0.0.1:${port}`, channelCredentialsFromSource(clientSource), { 'grpc.use_local_subchannel_pool': 1 });

    const first = newClient();
    cleanups.push(() => first.close());
    const oldClientSerial = clientSource.current().serialNumber;
    expect(await ask(first)).toBe(oldClientSerial);
    const oldServerSerial = serverSource.current().serialNumber;
    const client = { ca: ca.certPem, cert: cliFiles.pair.cert, key: cliFiles.pair.key, alpn: ['h2'] };
    expect(await presentedSerial(port, client)).toBe(oldServerSerial);

    const serverChanged = nextChange(serverSource);
    const clientChanged = nextChange(clientSource);
    await writeLeaf(ca, t.dir, 'server', SERVER);
    await writeLeaf(ca, t.dir, 'client', CLIENT);
    const [newServer, newClientBundle] = await Promise.all([serverChanged, clientChanged]);
    expect(newServer.serialNumber).not.toBe(oldServerSerial);
    expect(newClientBundle.serialNumber).not.toBe(oldClientSerial);

    // A new handshake sees the new server certificate.
    expect(await presentedSerial(port, client)).toBe(newServer.serialNumber);
    // The established HTTP/2 connection still works, still authenticated by the old client certificate.
    expect(await ask(first)).toBe(oldClientSerial);
    // A new channel presents the new client certificate.
    const second = newClient();
    cleanups.push(() => second.close());
    expect(await ask(second)).toBe(newClientBundle.serialNumber);
  });

  it('a grpc-js server without client certificates, and a source without a CA that cannot require them', async () => {
    const t = tempDir('grpc-no-ca');
    cleanups.push(t.remove);
    const srvFiles = await writeLeaf(ca, t.dir, 'server', SERVER);
    const noCa = await openFileSource(opts({ certFile: srvFiles.cert, keyFile: srvFiles.key }));
    cleanups.push(() => noCa.close());
    expect(() => serverCredentialsFromSource(noCa, { requireClientCert: true })).toThrow(expect.objectContaining({ code: 'ERR_CERT_CONFIG' }));

    const server = new grpc.Server();
    server.addService({ Serial: WHO } as grpc.ServiceDefinition, {
      Serial: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(call.getAuthContext().sslPeerCertificate?.serialNumber ?? 'none')),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentialsFromSource(noCa), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    // The client trusts the CA (from its own source) and presents no certificate.
    const cliFiles = await writeLeaf(ca, t.dir, 'client', CLIENT);
    const clientSource = await openFileSource(opts({ certFile: cliFiles.cert, keyFile: cliFiles.key, caFile: cliFiles.ca }));
    cleanups.push(() => clientSource.close());
    const client = new grpc.Client(`127.0.0.1:${port}`, channelCredentialsFromSource(clientSource, { clientCertificate: false }));
    cleanups.push(() => client.close());
    expect(await ask(client)).toBe('none');
  });

  it('a tls.Server serves replaced files to new handshakes; an open connection keeps echoing', async () => {
    const t = tempDir('tls');
    cleanups.push(t.remove);
    const files = await writeLeaf(ca, t.dir, 'server', SERVER);
    const source = await openFileSource(opts({ certFile: files.cert, keyFile: files.key, caFile: files.ca }));
    cleanups.push(() => source.close());
    const server = tls.createServer({ cert: files.pair.cert, key: files.pair.key, minVersion: 'TLSv1.2' }, (s) => s.pipe(s));
    const stop = followSourceOnTlsServer(server, source, silentLogger(), { base: { minVersion: 'TLSv1.2' } });
    cleanups.push(stop);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;

    const open = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
    cleanups.push(() => open.destroy());
    await new Promise<void>((r, j) => open.once('secureConnect', () => r()).once('error', j));
    const before = open.getPeerCertificate().serialNumber;
    expect(before).toBe(source.current().serialNumber);

    const changed = nextChange(source);
    await writeLeaf(ca, t.dir, 'server', SERVER);
    const after = await changed;
    expect(after.serialNumber).not.toBe(before);
    expect(await presentedSerial(port, { ca: ca.certPem })).toBe(after.serialNumber);

    const echoed = new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
    open.write('still here');
    expect(await echoed).toBe('still here');
  });
});
