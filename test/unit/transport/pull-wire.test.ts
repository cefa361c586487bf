/**
 * Pull mode's wire facts: the .proto declares what the code sends (service
 * path, upstream Packet reused, the ListTargets message, cross-checked with
 * protobufjs), pull dial addresses are names and never hosts, and refusal
 * texts carry their code.
 */
import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import protobuf from 'protobufjs';
import { parsePullErrorText, pullErrorText } from '../../../src/transport/pull-errors.js';
import {
  decodeTargetNames,
  encodeTargetNames,
  LIST_TARGETS_PATH,
  parsePullAddress,
  PULL_PATH,
  pullServiceDefinition,
  targetNameProblem,
} from '../../../src/transport/pull-service.js';
import { repoRoot } from '../../support/paths.js';

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(repoRoot, 'proto', target);
root.loadSync('tunnel/pull/v1/pull.proto', { keepCase: true });
root.resolveAll();
const service = root.lookupService('tunnel.pull.v1.PullService');
const Response = root.lookupType('tunnel.pull.v1.ListTargetsResponse');

describe('pull.proto and the code agree', () => {
  it('serves Pull as a bidirectional stream of the upstream Packet, under the package path', () => {
    const pull = service.methods['Pull']!;
    expect(pull.requestStream).toBe(true);
    expect(pull.responseStream).toBe(true);
    expect(pull.resolvedRequestType?.fullName).toBe('.Packet');
    expect(pull.resolvedResponseType?.fullName).toBe('.Packet');
    expect(PULL_PATH).toBe('/tunnel.pull.v1.PullService/Pull');
    expect(pullServiceDefinition.Pull.path).toBe(PULL_PATH);
    expect(pullServiceDefinition.Pull.requestStream && pullServiceDefinition.Pull.responseStream).toBe(true);
  });

  it('serves ListTargets as a unary call whose answer is repeated string names = 1', () => {
    const list = service.methods['ListTargets']!;
    expect(list.requestStream ?? false).toBe(false);
    expect(LIST_TARGETS_PATH).toBe('/tunnel.pull.v1.PullService/ListTargets');
    expect(Response.fields['names']!.id).toBe(1);
    expect(Response.fields['names']!.repeated).toBe(true);
  });

  it('encodes target names as protobufjs does, and reads them back', () => {
    const names = ['kubernetes', 'norm', 'a'.repeat(200), 'billing.platform'];
    const ours = encodeTargetNames(names);
    expect(Buffer.from(Response.encode(Response.create({ names })).finish()).equals(ours)).toBe(true);
    expect((Response.decode(ours) as unknown as { names: string[] }).names).toEqual(names);
    expect(decodeTargetNames(ours)).toEqual(names);
    expect(decodeTargetNames(Buffer.alloc(0))).toEqual([]);
  });

  it('skips fields it does not know, and refuses a truncated message', () => {
    const unknown = Buffer.from([0x10, 0x05, 0x1a, 0x01, 0x78, 0x25, 1, 2, 3, 4]);
    expect(decodeTargetNames(Buffer.concat([unknown, encodeTargetNames(['norm'])]))).toEqual(['norm']);
    expect(() => decodeTargetNames(Buffer.from([0x0a, 0x05, 0x6e]))).toThrow(/truncated/);
  });
});

describe('pull dial addresses', () => {
  it.each([
    ['norm', { name: 'norm' }],
    ['norm:443', { name: 'norm', port: 443 }],
    ['Kubernetes:6443', { name: 'kubernetes', port: 6443 }],
    ['billing.platform', { name: 'billing.platform' }],
  ])('reads %s as a target name', (text, want) => {
    expect(parsePullAddress(text)).toEqual(want);
  });

  it.each([
    ['', 'the name is empty'],
    ['10.0.0.1:80', 'a name is not an IP address'],
    ['[::1]:443', 'a pull address is a target name, never an IP address'],
    ['::1', 'port in 1-65535'],
    ['norm:0', 'port in 1-65535'],
    ['norm:http', 'port in 1-65535'],
    ['https://norm', 'port in 1-65535'],
    ['-norm', 'starts and ends with a letter or digit'],
    ['no rm:80', 'lowercase letters, digits'],
  ])('refuses %j: %s', (text, why) => {
    const r = parsePullAddress(text);
    expect('error' in r && r.error).toContain(why);
    expect('error' in r && r.error).toContain(`malformed pull address ${JSON.stringify(text)}`);
  });

  it('never takes an IP address as a name', () => {
    expect(targetNameProblem('127.0.0.1')).toBe('a name is not an IP address');
    expect(targetNameProblem('norm')).toBeUndefined();
  });
});

describe('refusal texts', () => {
  it('end in their code, which the agent reads back', () => {
    const text = pullErrorText('ERR_PULL_NOT_ALLOWED', 'pull target "x" is not allowed for agent "a"');
    expect(text).toBe('pull target "x" is not allowed for agent "a" [ERR_PULL_NOT_ALLOWED]');
    expect(parsePullErrorText(text)).toEqual({ code: 'ERR_PULL_NOT_ALLOWED', message: 'pull target "x" is not allowed for agent "a"' });
  });

  it('leave texts without a known code alone', () => {
    expect(parsePullErrorText('dial tcp: refused')).toEqual({ code: undefined, message: 'dial tcp: refused' });
    expect(parsePullErrorText('x [ERR_PULL_MADE_UP]')).toEqual({ code: undefined, message: 'x [ERR_PULL_MADE_UP]' });
  });
});
