import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { handleAgentSignals, handleServerSignals, type SignalSource } from '../../../src/cli/signals.js';
import { describeStartupError } from '../../../src/cli/startup-errors.js';
import { createLogger } from '../../../src/observability/logger.js';

const logger = createLogger({ silent: true });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function harness() {
  const source = new EventEmitter() as EventEmitter & SignalSource;
  const exits: number[] = [];
  return { source, exits, exit: (code: number) => exits.push(code) };
}

describe('server signals', () => {
  it('stops gracefully on the first SIGTERM and exits 0', async () => {
    const h = harness();
    const calls: string[] = [];
    handleServerSignals({ ...h, logger, shutdown: () => (calls.push('shutdown'), Promise.resolve()) });
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(calls).toEqual(['shutdown']);
    expect(h.exits).toEqual([0]);
  });

  it('exits 1 at once on a second signal while stopping', async () => {
    const h = harness();
    handleServerSignals({ ...h, logger, shutdown: () => new Promise<void>(() => undefined) });
    h.source.emit('SIGINT', 'SIGINT');
    await tick();
    expect(h.exits).toEqual([]);
    h.source.emit('SIGTERM', 'SIGTERM');
    expect(h.exits).toEqual([1]);
  });

  it('exits 1 when the shutdown fails', async () => {
    const h = harness();
    handleServerSignals({ ...h, logger, shutdown: () => Promise.reject(new Error('boom')) });
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(h.exits).toEqual([1]);
  });

  it('can be removed', () => {
    const h = harness();
    const remove = handleServerSignals({ ...h, logger, shutdown: () => Promise.resolve() });
    remove();
    expect(h.source.listenerCount('SIGTERM') + h.source.listenerCount('SIGINT')).toBe(0);
  });
});

describe('agent signals', () => {
  it('drains on the first signal and keeps running; stops and exits 0 on the second', async () => {
    const h = harness();
    const calls: string[] = [];
    handleAgentSignals({
      ...h,
      logger,
      drain: () => calls.push('drain'),
      stop: () => (calls.push('stop'), Promise.resolve()),
    });
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(calls).toEqual(['drain']);
    expect(h.exits).toEqual([]);
    h.source.emit('SIGINT', 'SIGINT');
    await tick();
    expect(calls).toEqual(['drain', 'stop']);
    expect(h.exits).toEqual([0]);
  });

  it('exits 1 at once on a third signal while stopping', async () => {
    const h = harness();
    handleAgentSignals({ ...h, logger, drain: () => undefined, stop: () => new Promise<void>(() => undefined) });
    h.source.emit('SIGTERM', 'SIGTERM');
    h.source.emit('SIGTERM', 'SIGTERM');
    await tick();
    expect(h.exits).toEqual([]);
    h.source.emit('SIGTERM', 'SIGTERM');
    expect(h.exits).toEqual([1]);
  });
});

describe('start failures', () => {
  const listeners = [
    { flag: 'uds-name', path: '/run/k.sock' },
    { flag: 'agent-port', port: 8091 },
    { flag: 'health-port', port: 8092 },
  ];

  it('names the flag of a port in use', () => {
    const err = Object.assign(new Error('listen EADDRINUSE: address already in use :::8092'), { code: 'EADDRINUSE', port: 8092 });
    expect(describeStartupError(err, listeners)).toMatch(/^cannot listen on --health-port 8092: address already in use/);
  });

  it('finds the port in a wrapped message', () => {
    const err = new Error('cannot listen on the agent port [::]:8091: No address added out of total 1 resolved: EADDRINUSE');
    expect(describeStartupError(err, listeners)).toMatch(/^cannot listen on --agent-port 8091: address already in use/);
  });

  it('names the socket path on EACCES', () => {
    const err = new Error('cannot listen on the frontend Unix socket /run/k.sock: listen EACCES: permission denied /run/k.sock');
    expect(describeStartupError(err, listeners)).toMatch(/^cannot listen on --uds-name \/run\/k\.sock: permission denied/);
  });

  it('names the certificate flags of the listener whose files cannot be used', () => {
    const tls = [
      { flag: 'server-port', port: 8090, mentions: 'frontend', tlsFlags: ['server-cert', 'server-key', 'server-ca-cert'] },
      { flag: 'agent-port', port: 8091, mentions: 'agent port', tlsFlags: ['cluster-cert', 'cluster-key', 'cluster-ca-cert'] },
    ];
    const err = new Error('cannot listen on the agent port 0.0.0.0:8091: error:0480006C:PEM routines::no start line');
    expect(describeStartupError(err, tls)).toMatch(/^cannot use the files of --cluster-cert, --cluster-key, --cluster-ca-cert \(PEM expected/);
  });

  it('keeps a message that already names the flag', () => {
    const msg = '--agent-cert /a.key and --agent-key /b.key are not a matching PEM certificate and key';
    expect(describeStartupError(new Error(msg), [{ flag: 'agent-cert', tlsFlags: ['ca-cert', 'agent-cert', 'agent-key'] }])).toBe(msg);
  });

  it('keeps other messages as they are', () => {
    expect(describeStartupError(new Error('cannot read --cluster-cert /x: ENOTDIR'), listeners)).toBe('cannot read --cluster-cert /x: ENOTDIR');
  });
});
