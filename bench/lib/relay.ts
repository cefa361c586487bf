/**
 * The baseline: a plain Node TCP relay (client → relay → target), run as a
 * child process like the tunnel's server. Every benchmark figure is printed
 * beside this one, measured in the same run.
 */
import net from 'node:net';

const targetPort = Number(process.argv[2]);
const server = net.createServer((client) => {
  client.setNoDelay(true);
  const up = net.connect({ host: '127.0.0.1', port: targetPort });
  up.setNoDelay(true);
  client.pipe(up);
  up.pipe(client);
  const kill = (): void => {
    client.destroy();
    up.destroy();
  };
  client.on('error', kill);
  up.on('error', kill);
  client.on('close', kill);
  up.on('close', kill);
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ port: a.port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
