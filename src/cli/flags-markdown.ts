/**
 * The README's flag reference, generated from the same tables as --help so
 * the two cannot drift: `npm run docs` rewrites the blocks between the
 * `<!-- flags:ROLE -->` markers, and a unit test fails when they are stale.
 */
import { CA_FLAGS } from './ca-command.js';
import { FLAG_GROUPS, type FlagSpec } from './flag-spec.js';
import { NOT_YET_IMPLEMENTED } from './not-yet.js';
import { roleFlags } from './parse.js';

/** The two roles, and `tunnel ca`. */
type Role = 'server' | 'agent' | 'ca';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
}

function flagCell(f: FlagSpec): string {
  const value = f.kind === 'bool' ? '' : ` ${f.kind}`;
  return `\`--${f.name}${value}\`${f.short ? ` (\`-${f.short}\`)` : ''}`;
}

/** The markdown table of one role's flags (or those of `tunnel ca`), grouped as in --help. */
export function flagsMarkdown(role: Role): string {
  const flags = role === 'ca' ? CA_FLAGS : roleFlags(role);
  const notYet = new Set(role === 'ca' ? [] : NOT_YET_IMPLEMENTED[role]);
  const out: string[] = [];
  for (const [group, title] of Object.entries(FLAG_GROUPS)) {
    const inGroup = flags.filter((f) => f.group === group);
    if (inGroup.length === 0) continue;
    out.push(`**${title}**`, '', '| flag | default | what it does |', '|---|---|---|');
    for (const f of inGroup) {
      const note = f.ignored ? ` *(accepted, no effect: ${f.ignored})*` : notYet.has(f.name) ? ' *(accepted, no effect yet)*' : '';
      out.push(`| ${flagCell(f)} | ${f.def === '' ? '' : `\`${cell(f.def)}\``} | ${cell(f.doc)}${note} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

const marker = (role: Role, edge: 'start' | 'end'): string => `<!-- flags:${role}:${edge} -->`;

/** Replaces each role's generated block in the README text; throws if a marker is missing. */
export function updateReadmeFlags(readme: string): string {
  let text = readme;
  for (const role of ['server', 'agent', 'ca'] as const) {
    const start = text.indexOf(marker(role, 'start'));
    const end = text.indexOf(marker(role, 'end'));
    if (start < 0 || end < start) throw new Error(`README.md lacks the ${marker(role, 'start')} / ${marker(role, 'end')} markers`);
    text = text.slice(0, start + marker(role, 'start').length) + '\n\n' + flagsMarkdown(role) + '\n' + text.slice(end);
  }
  return text;
}
