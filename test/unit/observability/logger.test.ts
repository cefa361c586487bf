import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../../../src/observability/logger.js';

/** A logger whose lines are collected in memory instead of stderr. */
function capture(level: string): { log: winston.Logger; lines: Record<string, unknown>[] } {
  const log = createLogger({ level, fields: { role: 'test' } });
  const lines: Record<string, unknown>[] = [];
  log.clear();
  log.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    }),
  );
  return { log, lines };
}

/** Fields whose serialisation is counted: proves whether a call was formatted at all. */
function counted(): { fields: Record<string, unknown>; serialised: () => number } {
  let n = 0;
  return { fields: { detail: { toJSON: () => (n++, 'x') } }, serialised: () => n };
}

describe('logger', () => {
  it('does not format or write debug calls at the info level, on the root and on children', async () => {
    const { log, lines } = capture('info');
    const c = counted();
    log.debug('per connection', c.fields);
    log.child({ connectID: 7 }).debug('per connection', c.fields);
    log.child({ a: 1 }).child({ b: 2 }).debug('per connection', c.fields);
    log.info('kept', { id: 1n });
    await new Promise((r) => setImmediate(r));
    expect(c.serialised()).toBe(0);
    expect(lines.map((l) => l['message'])).toEqual(['kept']);
    expect(lines[0]).toMatchObject({ level: 'info', role: 'test', id: '1' });
  });

  it('writes debug calls when the level is debug, also after the level is changed at run time', async () => {
    const { log, lines } = capture('info');
    const child = log.child({ connectID: 3 });
    child.debug('before');
    log.level = 'debug';
    const c = counted();
    child.debug('after', c.fields);
    log.warn('warned');
    await new Promise((r) => setImmediate(r));
    expect(c.serialised()).toBe(1);
    expect(lines.map((l) => l['message'])).toEqual(['after', 'warned']);
    expect(lines[0]).toMatchObject({ level: 'debug', connectID: 3, role: 'test', detail: 'x' });
  });

  it('keeps error and warn at the error level filtered the same way', async () => {
    const { log, lines } = capture('error');
    log.warn('dropped');
    log.info('dropped');
    log.error('kept', { why: 'x' });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l['message'])).toEqual(['kept']);
  });
});

describe('lazyChild', () => {
  it('writes with the merged fields of every level of child, like nested winston children', async () => {
    const { log, lines } = capture('info');
    const { lazyChild } = await import('../../../src/observability/logger.js');
    const conn = lazyChild(log, { session: 4 }).child({ dialID: 9n }).child({ connectID: 7n });
    conn.info('established', { address: '10.0.0.1:443' });
    conn.warn('stalled');
    conn.debug('dropped at info');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l['message'])).toEqual(['established', 'stalled']);
    expect(lines[0]).toMatchObject({ level: 'info', role: 'test', session: 4, dialID: '9', connectID: '7', address: '10.0.0.1:443' });
    expect(lines[1]).toMatchObject({ level: 'warn', session: 4, dialID: '9', connectID: '7' });
  });

  it('makes no winston child until a line passes the level, and follows level changes of the parent', async () => {
    const { log, lines } = capture('info');
    const { lazyChild } = await import('../../../src/observability/logger.js');
    let made = 0;
    const child = log.child.bind(log);
    log.child = (meta: object) => {
      made++;
      return child(meta);
    };
    const conn = lazyChild(log, { session: 1 }).child({ connectID: 2 });
    const c = counted();
    conn.debug('not yet', c.fields);
    expect(made).toBe(0);
    log.level = 'debug';
    conn.debug('now', c.fields);
    conn.debug('again');
    await new Promise((r) => setImmediate(r));
    expect(made).toBe(1);
    expect(c.serialised()).toBe(1);
    expect(lines.map((l) => [l['message'], l['connectID']])).toEqual([
      ['now', 2],
      ['again', 2],
    ]);
    expect(conn.isLevelEnabled('debug')).toBe(true);
  });
});
