/**
 * The shape of one command-line flag: name, value format, default as shown
 * in --help, doc, and the help group it is listed under. The tables are in
 * server-flags.ts, agent-flags.ts and common-flags.ts.
 */

/** Value format; each is parsed as upstream's Go flag of that type (go-values.ts). */
export type FlagKind = 'string' | 'int' | 'float' | 'duration' | 'bool' | 'list';

/** Help sections, in display order. */
export const FLAG_GROUPS = {
  mode: 'Mode',
  frontend: 'Frontend (clients: kube-apiserver, the TypeScript client, HTTP CONNECT)',
  'agent-listener': 'Agent listener',
  'server-connection': 'Connection to the tunnel server',
  'health-admin': 'Health and admin endpoints',
  tls: 'TLS',
  auth: 'Authentication',
  routing: 'Routing and connections',
  ha: 'High availability (several server replicas)',
  pull: 'Pull mode (clients in a managed cluster reach named services on the server side)',
  certs: 'Certificates (--cert-source)',
  hooks: 'Hooks (provider code around the agent start and agent connections)',
  logging: 'Logging',
  compat: 'Compatibility only (accepted, no effect)',
  ca: 'Flags of tunnel ca',
} as const;

export type FlagGroup = keyof typeof FLAG_GROUPS;

export interface FlagSpec {
  /** Long name without dashes, as upstream spells it. */
  readonly name: string;
  readonly kind: FlagKind;
  /** The default in the flag's own format, as shown by --help ('' = empty). */
  readonly def: string;
  /** One or two sentences for --help. */
  readonly doc: string;
  readonly group: FlagGroup;
  /** One-letter alias (`-v`, `-h`). */
  readonly short?: string;
  /**
   * Set for flags that are accepted only so that existing manifests keep
   * working and will never do anything here: the warning's reason.
   */
  readonly ignored?: string;
}

/** Placeholder for the value in --help. */
export function valueName(kind: FlagKind): string {
  switch (kind) {
    case 'list':
      return 'strings';
    case 'bool':
      return '';
    default:
      return kind;
  }
}

/** The flags by name and by one-letter alias, as the tokenizer looks them up. */
export function indexFlags(flags: readonly FlagSpec[]): Map<string, FlagSpec> {
  const m = new Map<string, FlagSpec>();
  for (const f of flags) {
    m.set(f.name, f);
    if (f.short) m.set(f.short, f);
  }
  return m;
}
