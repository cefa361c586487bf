#!/usr/bin/env node
// render.mjs: `helm template` for this repository's chart, where no helm
// binary is at hand. Plain Node ESM, no build step; needs the `yaml` package
// (a runtime dependency of the project).
//
//   node deploy/helm/render.mjs <chartDir> [-f values.yaml]... [--set a.b=c]...
//        [--set-string a=b]... [--namespace ns] [--release-name name]
//        [--show-only templates/file.yaml]
//
// It implements the part of Go templates, Sprig and Helm that the chart uses
// (see deploy/README.md, "Helm chart") and fails with a clear message, naming
// the template and line, on anything else. Output: a multi-document YAML
// stream like `helm template` (a "# Source:" comment per document, documents
// ordered by Helm's install order of kinds).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { STRUCTS, Runner } from './lib/exec.mjs';
import { templateFunctions } from './lib/functions.mjs';
import { TemplateError } from './lib/gofmt.mjs';
import { parseTemplate } from './lib/parse.mjs';
import { applySet, mergeValues } from './lib/values.mjs';

export { TemplateError };

/** Helm's install order of kinds (pkg/releaseutil/kind_sorter.go); other kinds go last. */
const INSTALL_ORDER = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy',
  'PodDisruptionBudget', 'ServiceAccount', 'Secret', 'SecretList', 'ConfigMap', 'StorageClass',
  'PersistentVolume', 'PersistentVolumeClaim', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleList',
  'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role', 'RoleList', 'RoleBinding', 'RoleBindingList',
  'Service', 'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler',
  'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
];

const USAGE = `usage: node deploy/helm/render.mjs <chartDir> [-f values.yaml]... [--set a.b=c]... [--set-string a=b]...
                                 [--namespace ns] [--release-name name] [--show-only templates/file.yaml]`;

/** Reads a YAML file into a map (empty file: {}). */
function readYamlMap(file) {
  let v;
  try {
    v = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TemplateError(`${file}: ${err.message}`);
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new TemplateError(`${file}: values must be a map`);
  return v;
}

/** Every file under dir, as paths relative to dir with forward slashes, sorted. */
function listFiles(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(full).isDirectory()) out.push(...listFiles(full, rel));
    else out.push(rel);
  }
  return out;
}

function struct(obj) {
  STRUCTS.add(obj);
  return obj;
}

/**
 * Renders a chart. Options: valuesFiles (paths), set / setString (arrays of
 * "a.b=c"), namespace (default "default"), releaseName (default
 * "release-name"), showOnly (template path relative to the chart, e.g.
 * "templates/server-deployment.yaml"). Returns { documents: [{source, text}],
 * values } and throws TemplateError on any problem.
 */
export function renderChart(chartDir, opts = {}) {
  const chartFile = path.join(chartDir, 'Chart.yaml');
  if (!existsSync(chartFile)) throw new TemplateError(`${chartDir}: no Chart.yaml (is this a chart directory?)`);
  const chart = readYamlMap(chartFile);
  for (const k of ['apiVersion', 'name', 'version']) {
    if (!chart[k]) throw new TemplateError(`${chartFile}: "${k}" is required`);
  }
  if (chart.apiVersion !== 'v2') throw new TemplateError(`${chartFile}: apiVersion must be v2`);
  if (chart.dependencies?.length) throw new TemplateError(`${chartFile}: chart dependencies are not supported by render.mjs`);

  let values = existsSync(path.join(chartDir, 'values.yaml')) ? readYamlMap(path.join(chartDir, 'values.yaml')) : {};
  for (const f of opts.valuesFiles ?? []) values = mergeValues(values, readYamlMap(f));
  for (const s of opts.set ?? []) applySet(values, s, false);
  for (const s of opts.setString ?? []) applySet(values, s, true);

  const templatesDir = path.join(chartDir, 'templates');
  const files = existsSync(templatesDir) ? listFiles(templatesDir) : [];
  const { functions, lazy } = templateFunctions();
  const defines = new Map();
  const parsed = [];
  for (const rel of files) {
    const name = `${chart.name}/templates/${rel}`;
    const body = parseTemplate(readFileSync(path.join(templatesDir, rel), 'utf8'), name, defines, functions);
    parsed.push({ rel, name, body });
  }

  const release = struct({
    Name: opts.releaseName ?? 'release-name',
    Namespace: opts.namespace ?? 'default',
    Service: 'Helm',
    IsInstall: true,
    IsUpgrade: false,
    Revision: 1,
  });
  const chartObj = struct({
    Name: chart.name,
    Version: String(chart.version),
    AppVersion: chart.appVersion === undefined ? '' : String(chart.appVersion),
    Description: chart.description ?? '',
    Type: chart.type ?? 'application',
    APIVersion: chart.apiVersion,
  });

  const runner = new Runner(defines, functions, lazy);
  const documents = [];
  for (const { rel, name, body } of parsed) {
    const base = path.posix.basename(rel);
    if (base.startsWith('_') || !/\.(ya?ml)$/.test(base)) continue; // partials, NOTES.txt
    if (opts.showOnly && `templates/${rel}` !== opts.showOnly) continue;
    const top = struct({
      Values: values,
      Release: release,
      Chart: chartObj,
      Template: struct({ Name: name, BasePath: `${chart.name}/templates` }),
    });
    const text = runner.render(body, top).replaceAll('<no value>', '');
    for (const doc of splitManifests(text)) documents.push({ source: name, text: doc, kind: kindOf(doc, name) });
  }
  if (opts.showOnly && !files.includes(opts.showOnly.replace(/^templates\//, ''))) {
    throw new TemplateError(`could not find template ${opts.showOnly} in chart`);
  }
  const rank = (k) => {
    const i = INSTALL_ORDER.indexOf(k);
    return i < 0 ? INSTALL_ORDER.length : i;
  };
  const ordered = documents
    .map((d, i) => ({ ...d, i }))
    .sort((a, b) => rank(a.kind) - rank(b.kind) || (rank(a.kind) === INSTALL_ORDER.length ? a.kind.localeCompare(b.kind) : 0) || a.i - b.i);
  return { documents: ordered.map(({ source, text }) => ({ source, text })), values };
}

/** Splits rendered text on YAML document separators, dropping empty documents (as Helm does). */
function splitManifests(text) {
  return text
    .split(/(?:^|\s*\n)---\s*/)
    .map((d) => d.replace(/\s+$/, ''))
    .filter((d) => d.replace(/^\s*#.*$/gm, '').trim() !== '');
}

/** The kind of a rendered document; a document that is not YAML is an error, as with Helm. */
function kindOf(doc, source) {
  const docs = parseAllDocuments(doc);
  const first = docs[0];
  if (!first || first.errors.length) {
    const why = first ? first.errors[0].message : 'empty';
    throw new TemplateError(`${source}: rendered output is not valid YAML: ${why}\n--- rendered ---\n${doc}`);
  }
  const v = first.toJS();
  return v && typeof v === 'object' && typeof v.kind === 'string' ? v.kind : '';
}

/** The documents as one YAML stream, `helm template` style. */
export function formatStream(documents) {
  return documents.map((d) => `---\n# Source: ${d.source}\n${d.text}\n`).join('');
}

/** Parses command-line arguments; throws TemplateError with the usage on mistakes. */
export function parseArgs(argv) {
  const opts = { valuesFiles: [], set: [], setString: [] };
  let chartDir;
  const value = (i, flag) => {
    if (i >= argv.length || argv[i].startsWith('-')) throw new TemplateError(`${flag} needs a value\n${USAGE}`);
    return argv[i];
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline;
    const m = /^(--[a-z-]+)=(.*)$/s.exec(a);
    if (m) [, a, inline] = m;
    const take = () => (inline !== undefined ? inline : value(++i, a));
    switch (a) {
      case '-f':
      case '--values':
        opts.valuesFiles.push(take());
        break;
      case '--set':
        opts.set.push(take());
        break;
      case '--set-string':
        opts.setString.push(take());
        break;
      case '-n':
      case '--namespace':
        opts.namespace = take();
        break;
      case '--release-name':
      case '--name':
        opts.releaseName = take();
        break;
      case '-s':
      case '--show-only':
        opts.showOnly = take();
        break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        if (a.startsWith('-')) throw new TemplateError(`unknown option ${a}\n${USAGE}`);
        if (chartDir !== undefined) throw new TemplateError(`more than one chart directory given (${chartDir}, ${a})\n${USAGE}`);
        chartDir = a;
    }
  }
  if (!chartDir && !opts.help) throw new TemplateError(`no chart directory given\n${USAGE}`);
  return { chartDir, ...opts };
}

function main(argv) {
  let args;
  try {
    args = parseArgs(argv);
    if (args.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const { documents } = renderChart(args.chartDir, args);
    process.stdout.write(formatStream(documents));
    return 0;
  } catch (err) {
    if (err instanceof TemplateError) {
      process.stderr.write(`render.mjs: error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
