/** guardStdio: what a closed stdout or stderr does to a running role. */
import { describe, expect, it, jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import winston from 'winston';
import { guardStdio } from '../../../src/cli/stdio-guard.js';
import { createLogger } from '../../../src/observability/logger.js';

function setUp(stop: () => Promise<void>, forceExitMs?: number) {
  const logger = createLogger();
  const console = logger.transports.find((t) => t instanceof winston.transports.Console)!;
  console.silent = true; // keep the test's own stderr clean; the guard must leave it silent
  const file = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  file.on('data', (b: Buffer) => lines.push(...b.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)));
  logger.add(new winston.transports.Stream({ stream: file }));
  const stdout = new EventEmitter();
  const stderr = new EventEmitter();
  const exit = jest.fn<(code: number) => void>();
  const hardExit = jest.fn<(code: number) => void>();
  const remove = guardStdio({ streams: { stdout, stderr }, logger, stop, exit, hardExit, ...(forceExitMs ? { forceExitMs } : {}) });
  return { logger, console, lines, stdout, stderr, exit, hardExit, remove };
}

const epipe = (): Error => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('guardStdio', () => {
  it('on EPIPE: console logging stays off, the reason goes to the other transports, the role stops, exit 1, once', async () => {
    const stop = jest.fn(() => Promise.resolve());
    const t = setUp(stop);
    t.console.silent = false;
    t.stderr.emit('error', epipe());
    t.stderr.emit('error', epipe());
    t.stdout.emit('error', epipe());
    await settle();
    expect(t.console.silent).toBe(true);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(t.exit.mock.calls).toEqual([[1]]);
    expect(t.hardExit).not.toHaveBeenCalled();
    expect(t.lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'stderr closed: stopping', error: 'EPIPE' }));
  });

  it('exits 1 even when stopping fails', async () => {
    const t = setUp(() => Promise.reject(new Error('stuck')));
    t.stdout.emit('error', epipe());
    await settle();
    expect(t.exit.mock.calls).toEqual([[1]]);
    expect(t.lines).toContainEqual(expect.objectContaining({ message: 'stdout closed: stopping' }));
  });

  it('exits hard when stopping hangs past forceExitMs', async () => {
    const t = setUp(() => new Promise<void>(() => undefined), 50);
    t.stderr.emit('error', epipe());
    await new Promise((r) => setTimeout(r, 120));
    expect(t.hardExit.mock.calls).toEqual([[1]]);
    expect(t.exit).not.toHaveBeenCalled();
  });

  it('removes its listeners', () => {
    const t = setUp(() => Promise.resolve());
    expect(t.stderr.listenerCount('error')).toBe(1);
    t.remove();
    expect(t.stderr.listenerCount('error')).toBe(0);
    expect(t.stdout.listenerCount('error')).toBe(0);
  });
});
