/** Binding a local listener of pull mode, with errors that name the flag. */
import type net from 'node:net';
import { AgentConfigError } from '../errors.js';

/** Listens on host:port ('' = every interface); resolves with the bound port. */
export function listenOn(server: net.Server, host: string, port: number, flag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void =>
      reject(new AgentConfigError(`cannot listen for ${flag} on ${host || '*'}:${port}: ${e.code ?? e.message}`));
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    };
    if (host === '') server.listen(port, done);
    else server.listen(port, host, done);
  });
}

/** Closes a listener; resolves once it is closed (connections are the caller's to end). */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
