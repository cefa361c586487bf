/**
 * A watch as an HTTP response: JSON lines `{"type":...,"object":...}`
 * from Registry.watch, ended by the client going away, `timeoutSeconds`,
 * an ERROR event, or the fake's close().
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from './registry.js';
import type { ResourcePath } from './request-info.js';

/** labelSelector and fieldSelector of a query, when set. */
export function selectorsOf(q: URLSearchParams): { labelSelector?: string; fieldSelector?: string } {
  const out: { labelSelector?: string; fieldSelector?: string } = {};
  const l = q.get('labelSelector');
  const f = q.get('fieldSelector');
  if (l) out.labelSelector = l;
  if (f) out.fieldSelector = f;
  return out;
}

/** Streams one watch; `watches` holds its ender while it is open. */
export function startWatch(
  deps: { registry: Registry; watches: Set<() => void> },
  req: IncomingMessage,
  res: ServerResponse,
  resource: string,
  p: ResourcePath,
  q: URLSearchParams,
): void {
  const held: string[] = [];
  let live = false;
  let ended = false;
  const write = (line: string): void => {
    if (ended) return;
    if (live) res.write(line);
    else held.push(line);
  };
  const finish = (): void => {
    if (ended) return;
    ended = true;
    stop();
    clearTimeout(timer);
    deps.watches.delete(finish);
    res.end();
  };
  const rv = q.get('resourceVersion');
  let errored = false;
  const stop = deps.registry.watch(
    resource,
    {
      ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
      ...selectorsOf(q),
      ...(rv ? { resourceVersion: rv } : {}),
    },
    (type, object) => {
      write(JSON.stringify({ type, object }) + '\n');
      if (type === 'ERROR') {
        errored = true;
        if (live) finish();
      }
    },
  );
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  live = true;
  for (const line of held.splice(0)) res.write(line);
  const timeout = Number(q.get('timeoutSeconds') ?? '0');
  let timer: NodeJS.Timeout | undefined;
  if (errored) {
    finish();
    return;
  }
  if (timeout > 0) timer = setTimeout(finish, timeout * 1000);
  deps.watches.add(finish);
  req.on('close', finish);
  res.on('close', finish);
}
