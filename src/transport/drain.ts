/** Waiting for a stream's write buffer, shared by the sockets the server and agent write to. */
import type { Duplex } from 'node:stream';

/** Resolves once `s` emits 'drain' (it can take more) or 'close' (it never will); both listeners are removed. */
export function drainOrClose(s: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
