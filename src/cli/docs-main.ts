/** `npm run docs`: regenerates the README's flag tables from the CLI's flag tables. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { updateReadmeFlags } from './flags-markdown.js';

const readme = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'README.md');
const before = readFileSync(readme, 'utf8');
const after = updateReadmeFlags(before);
if (after !== before) writeFileSync(readme, after);
console.log(after === before ? 'README.md flag tables are up to date' : 'README.md flag tables updated');
