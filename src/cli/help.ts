/**
 * --help text: per mode, every flag with its value type, doc and default,
 * grouped; without a mode, the two modes and the flags they share.
 */
import { FLAG_GROUPS, valueName, type FlagGroup, type FlagSpec } from './flag-spec.js';

const WIDTH = 100;

const SERVER_INTRO = [
  'Usage: tunnel --mode=server [flags]',
  '',
  'Runs the tunnel server in the meta cluster. Clients (kube-apiserver\'s egress selector, the',
  'TypeScript client, any HTTP CONNECT client) reach the frontend; agents in managed clusters dial',
  'the agent port. Flags, defaults and value formats are those of upstream proxy-server.',
];

const AGENT_INTRO = [
  'Usage: tunnel --mode=agent [flags]',
  '',
  'Runs the tunnel agent in a managed cluster. It dials out to the tunnel server and opens the',
  'connections the server asks for inside its cluster; it never listens publicly. Flags, defaults',
  'and value formats are those of upstream proxy-agent.',
];

const GENERAL = [
  'tunnel: a konnectivity (apiserver-network-proxy) compatible tunnel between a meta cluster and',
  'the managed clusters it cannot reach directly.',
  '',
  'Usage:',
  '  tunnel --mode=server [flags]    the server, in the meta cluster (upstream proxy-server)',
  '  tunnel --mode=agent [flags]     the agent, in each managed cluster (upstream proxy-agent)',
  '',
  '  tunnel --mode=server --help     every flag of the server',
  '  tunnel --mode=agent --help      every flag of the agent',
  '  tunnel ca <status|stage|promote|prune> [flags]',
  '                                  rotate the tunnel CA of --cert-source=csr (tunnel ca --help)',
  '  tunnel --version',
  '',
  '--mode=grpc and --mode=http-connect are read as --mode=server (upstream proxy-server\'s --mode).',
  'Durations are Go durations (300ms, 1m30s, 1h); booleans take --flag or --flag=true|false.',
];

/**
 * Help of one mode. `notYet` are flags accepted without effect so far; they
 * are marked so.
 */
export function modeHelp(mode: 'server' | 'agent', flags: readonly FlagSpec[], notYet: readonly string[]): string {
  const intro = mode === 'server' ? SERVER_INTRO : AGENT_INTRO;
  return [...intro, '', ...groups(flags, notYet), envNotes(mode)].join('\n');
}

const CA_INTRO = [
  'Usage: tunnel ca <status|stage|promote|prune> [flags]',
  '',
  'Shows and rotates the tunnel CA of --cert-source=csr, kept in the Secret tunnel-ca of the meta',
  'cluster (--namespace). A rotation has three steps, so that every peer trusts a new CA before it',
  'signs anything and until nothing it signed is in use any more:',
  '',
  '  status    the signing CA, a staged CA, and every CA of the trust bundle (ca-bundle.crt)',
  '  stage     create the next CA and add it to the trust bundle; it signs nothing yet. Then copy',
  '            the bundle into every managed cluster\'s bootstrap Secret (ca.crt, the agents\'',
  '            --ca-cert) and wait one --ca-reload-interval of the servers (default 5m)',
  '  promote   the staged CA signs from now on; the old one stays in the bundle. Servers renew',
  '            their own certificate under it within --ca-reload-interval; agents keep theirs',
  '            (still trusted) until they renew them',
  '  prune     drop retired CAs from the bundle: by default those that have expired; with',
  '            --include-unexpired every retired one. The signing and staged CAs always stay',
  '',
  'Exit codes: 0 done (or nothing to do), 1 failure (one line on stderr naming what to fix),',
  '2 bad command line.',
];

/** Help of `tunnel ca`. */
export function caHelp(flags: readonly FlagSpec[]): string {
  return [...CA_INTRO, '', ...groups(flags, []), 'Environment:', '  KUBERNETES_SERVICE_HOST/PORT   the in-cluster configuration, when --kubeconfig is empty', ''].join('\n');
}

/** Help without a mode. */
export function generalHelp(common: readonly FlagSpec[]): string {
  return [...GENERAL, '', 'Flags of both modes:', ...groups(common, [], '  ')].join('\n');
}

function envNotes(mode: 'server' | 'agent'): string {
  const id = mode === 'server' ? 'PROXY_SERVER_ID    default of --server-id' : 'PROXY_AGENT_ID     default of --agent-id';
  return [
    'Environment:',
    `  ${id}`,
    '  TUNNEL_ALLOW_EPHEMERAL_PORTS=1   allow port 0 (an ephemeral port) for the listeners, for tests',
    '  TUNNEL_ALLOW_SHORT_CERT_LIFETIME=1   allow --cert-lifetime down to 1s (csr), for tests of rotation',
    '',
  ].join('\n');
}

function groups(flags: readonly FlagSpec[], notYet: readonly string[], indent = ''): string[] {
  const lefts = flags.map(left);
  const col = Math.min(44, Math.max(...lefts.map((l) => l.length)) + 2);
  const out: string[] = [];
  for (const group of Object.keys(FLAG_GROUPS) as FlagGroup[]) {
    const members = flags.filter((f) => f.group === group);
    if (members.length === 0) continue;
    out.push(`${indent}${FLAG_GROUPS[group]}:`);
    for (const f of members) out.push(...entry(f, col, notYet.includes(f.name), indent));
    out.push('');
  }
  return out;
}

function left(f: FlagSpec): string {
  const names = f.short ? `-${f.short}, --${f.name}` : `    --${f.name}`;
  const v = valueName(f.kind);
  return `  ${names}${v ? ` ${v}` : ''}`;
}

function entry(f: FlagSpec, col: number, notYet: boolean, indent: string): string[] {
  let text = f.doc;
  const dflt = defaultText(f);
  if (dflt) text += ` (default ${dflt})`;
  if (notYet) text += ' [no effect yet]';
  const l = indent + left(f);
  const pad = indent.length + col;
  const lines = wrap(text, WIDTH - pad);
  const first = l.length + 1 > pad ? [l, ' '.repeat(pad) + lines[0]] : [l.padEnd(pad) + lines[0]];
  return [...first, ...lines.slice(1).map((x) => ' '.repeat(pad) + x)];
}

function defaultText(f: FlagSpec): string {
  if (f.kind === 'bool') return f.def === 'true' ? 'true' : '';
  if (f.def === '') return '';
  return f.kind === 'string' ? `"${f.def}"` : f.def;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines;
}
