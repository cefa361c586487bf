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
