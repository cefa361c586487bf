/**
 * deploy/helm/render.mjs as a template engine: the Go template, Sprig and
 * Helm behaviour the chart relies on (with Helm's known quirks), values from
 * -f and --set, and clear errors for what it does not support. Each case
 * renders a one-file chart in a temporary directory.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRenderModule, runRender, type RenderModule } from './support/render.js';

let mod: RenderModule;
let dir: string;
let n = 0;
beforeAll(async () => {
  mod = await loadRenderModule();
  dir = mkdtempSync(path.join(os.tmpdir(), 'render-engine-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A chart with the given templates and values; returns its directory. */
function chart(templates: Record<string, string>, values = ''): string {
  const c = path.join(dir, `c${n++}`);
  mkdirSync(path.join(c, 'templates'), { recursive: true });
  writeFileSync(path.join(c, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: "4.5"\n');
  writeFileSync(path.join(c, 'values.yaml'), values);
  for (const [name, text] of Object.entries(templates)) writeFileSync(path.join(c, 'templates', name), text);
  return c;
}

/** Renders one template (as a ConfigMap-free text) and returns its text. */
function render(template: string, values = '', opts: Parameters<RenderModule['renderChart']>[1] = {}): string {
  const c = chart({ 'x.yaml': `kind: T\nout: |\n  ${template.replace(/\n/g, '\n  ')}\n` }, values);
  const { documents } = mod.renderChart(c, opts);
  const text = documents[0]!.text;
  return text
    .slice(text.indexOf('out: |\n') + 7)
    .split('\n')
    .map((l) => l.slice(2))
    .join('\n');
}

const error = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
};

describe('Go template semantics', () => {
  it('trims whitespace with {{- and -}} and drops comments', () => {
    expect(render('a  {{- "b" -}}  c {{/* note */}}d')).toBe('abc d');
  });

  it('prints missing values as nothing, as Helm does', () => {
    expect(render('[{{ .Values.nope }}]')).toBe('[]');
  });

  it('fails on a field of a missing value, naming the template and line', () => {
    const c = chart({ 'x.yaml': 'kind: T\nv: {{ .Values.a.b }}\n' });
    expect(error(() => mod.renderChart(c))).toMatch(/demo\/templates\/x\.yaml:2: nil pointer evaluating interface \{\}\.b/);
  });

  it('treats .Release and .Chart as structs: a misspelt field is an error', () => {
    expect(render('{{ .Release.Namespace }}/{{ .Chart.Name }}-{{ .Chart.Version }}', '', { namespace: 'ns1' })).toBe('ns1/demo-1.2.3');
    expect(error(() => render('{{ .Release.namespace }}'))).toMatch(/can't evaluate field namespace/);
  });

  it('if / else if / else with Go truthiness (0, "", empty list and map are false)', () => {
    const t = '{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}';
    expect(render(t, 'a: 0\nb: []')).toBe('C');
    expect(render(t, 'a: ""\nb: [1]')).toBe('B');
    expect(render(t, 'a: {k: v}')).toBe('A');
  });

  it('range over a list with index, over a map in key order, with else', () => {
    expect(render('{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}', 'l: [x, y]')).toBe('0=x;1=y;');
    expect(render('{{ range $k, $v := .Values.m }}{{ $k }}={{ . }};{{ end }}', 'm: {b: 2, a: 1}')).toBe('a=1;b=2;');
    expect(render('{{ range .Values.none }}x{{ else }}empty{{ end }}')).toBe('empty');
  });

  it('with rebinds the dot and has an else; $ stays the root', () => {
    expect(render('{{ with .Values.s }}{{ .name }}@{{ $.Release.Name }}{{ else }}none{{ end }}', 's: {name: n}')).toBe('n@release-name');
    expect(render('{{ with .Values.s }}x{{ else }}none{{ end }}')).toBe('none');
  });

  it('scopes variables to their block and allows reassignment', () => {
    expect(render('{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}')).toBe('2');
    expect(error(() => render('{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}'))).toMatch(/undefined variable "\$y"/);
  });

  it('define, include with a pipeline, template', () => {
    const c = chart({
      '_h.tpl': '{{- define "greet" -}}hi {{ . }}{{- end -}}',
      'x.yaml': 'kind: T\na: {{ include "greet" "you" | upper | quote }}\nb: {{ template "greet" .Values.who }}\n',
    }, 'who: me');
    expect(mod.renderChart(c).documents[0]!.text).toBe('kind: T\na: "HI YOU"\nb: hi me');
  });

  it('and/or return the deciding value and do not evaluate the rest', () => {
    expect(render('{{ or .Values.a "fallback" }}|{{ and 1 "" "x" }}|')).toBe('fallback||');
    expect(render('{{ if and .Values.off .Values.missing.deep }}x{{ end }}ok', 'off: false')).toBe('ok');
  });

  it('eq with several arguments, ne, not', () => {
    expect(render('{{ eq "b" "a" "b" }} {{ ne 1 2 }} {{ not "" }}')).toBe('true true true');
  });
});

describe('Sprig and Helm functions', () => {
  it('default treats false, 0 and "" as empty (the Sprig rule)', () => {
    expect(render('{{ .Values.f | default true }} {{ .Values.z | default 5 }} {{ .Values.s | default "d" }}', 'f: false\nz: 0\ns: ""')).toBe('true 5 d');
  });

  it('quote escapes as Go %q and skips nil', () => {
    expect(render('{{ .Values.s | quote }}|{{ .Values.nope | quote }}|', 's: "a\\"b\\\\c\\n"')).toBe('"a\\"b\\\\c\\n"||');
  });

  it('toYaml sorts keys, does not indent lists, has no trailing newline; nindent and indent', () => {
    const c = chart({ 'x.yaml': 'kind: T\nx:{{ toYaml .Values.m | nindent 2 }}\ny:\n{{ "a\\nb" | indent 3 }}\n' }, 'm: {b: [1, 2], a: {c: "true"}}');
    expect(mod.renderChart(c).documents[0]!.text).toBe('kind: T\nx:\n  a:\n    c: "true"\n  b:\n  - 1\n  - 2\ny:\n   a\n   b');
  });

  it('printf, trim, trunc, trimSuffix, replace, join, toString', () => {
    expect(render('{{ printf "%s-%d-%v-%q" "a" 7 true "q" }}')).toBe('a-7-true-"q"');
    expect(render('{{ trim "  x  " }}|{{ trunc 3 "abcdef" }}|{{ "ab-" | trimSuffix "-" }}|{{ replace "+" "_" "a+b" }}')).toBe('x|abc|ab|a_b');
    expect(render('{{ join "," .Values.l }}|{{ toString 8091 }}', 'l: [a, b]')).toBe('a,b|8091');
  });

  it('prints large numbers from values files as Helm does (float64: 1e+06)', () => {
    expect(render('{{ .Values.n }} {{ .Values.m }}', 'n: 1000000\nm: 8091')).toBe('1e+06 8091');
  });

  it('required and fail stop the render with the message', () => {
    expect(error(() => render('{{ required "x is required" .Values.x }}'))).toMatch(/execution error: x is required/);
    expect(error(() => render('{{ fail "no" }}'))).toMatch(/execution error: no/);
  });

  it('dict, list, hasKey, len, index', () => {
    expect(render('{{ $d := dict "a" 1 "b" (list 1 2 3) }}{{ hasKey $d "a" }} {{ len (index $d "b") }} {{ index $d "b" 1 }}')).toBe('true 3 2');
  });
});

describe('unsupported features fail clearly', () => {
  it('an unknown function names itself and the supported ones', () => {
    expect(error(() => render('{{ tpl "x" . }}'))).toMatch(/function "tpl" is not supported by render\.mjs \(supported: and, .*toYaml/);
  });

  it('block, break and else-with', () => {
    expect(error(() => render('{{ block "x" . }}y{{ end }}'))).toMatch(/"block" is not supported/);
    expect(error(() => render('{{ range .Values.l }}{{ break }}{{ end }}'))).toMatch(/"break" is not supported/);
    expect(error(() => render('{{ with .Values.a }}{{ else with .Values.b }}{{ end }}'))).toMatch(/only else and else if/);
  });

  it('a missing end and an unclosed action', () => {
    expect(error(() => render('{{ if true }}x'))).toMatch(/missing \{\{end\}\}/);
    expect(error(() => render('{{ .Values.a '))).toMatch(/unclosed action/);
  });

  it('printf verbs beyond %s %d %v %q %t', () => {
    expect(error(() => render('{{ printf "%05d" 3 }}'))).toMatch(/verb %0 is not supported/);
  });

  it('output that is not YAML', () => {
    const c = chart({ 'x.yaml': 'kind: T\n  bad: [\n' });
    expect(error(() => mod.renderChart(c))).toMatch(/rendered output is not valid YAML/);
  });
});

describe('values: chart defaults, -f files, --set', () => {
  const show = '{{ toYaml .Values }}';

  it('merges -f files over values.yaml (maps merge, null deletes) and --set over both', () => {
    const c = chart({ 'x.yaml': `kind: T\nv:\n  {{- ${show.slice(3, -3)} | nindent 2 }}\n` }, 'a: {b: 1, c: 2}\nl: [1]\nkeep: k');
    const f = path.join(dir, `over${n++}.yaml`);
    writeFileSync(f, 'a: {b: 10}\nkeep: null\nl: [9]\n');
    const { values } = mod.renderChart(c, { valuesFiles: [f], set: ['a.c=x,list={p,q},flag=true,num=42,nul=null'], setString: ['s=true'] });
    expect(values).toEqual({ a: { b: 10, c: 'x' }, l: [9], list: ['p', 'q'], flag: true, num: 42, s: 'true' });
  });

  it('--set supports escaped dots and commas and list indexes', () => {
    const c = chart({ 'x.yaml': 'kind: T\n' });
    const { values } = mod.renderChart(c, { set: ['ann.example\\.com/x=a\\,b', 'items[1].name=n'] });
    expect(values).toEqual({ ann: { 'example.com/x': 'a,b' }, items: [null, { name: 'n' }] });
  });
});

describe('output and command line', () => {
  it('prints documents in Helm install order with Source comments, drops empty ones and partials', () => {
    const c = chart({
      '_helpers.tpl': '{{ define "x" }}{{ end }}',
      'a-deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n',
      'b-sa.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\n---\n{{ if false }}\nkind: Nope\n{{ end }}\n',
      'NOTES.txt': 'notes are not manifests',
    });
    const r = runRender([c, '--namespace', 'ns']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      '---\n# Source: demo/templates/b-sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\n' +
        '---\n# Source: demo/templates/a-deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n',
    );
  });

  it('--show-only renders one template', () => {
    const c = chart({ 'a.yaml': 'kind: A\n', 'b.yaml': 'kind: B\n' });
    expect(runRender([c, '--show-only', 'templates/b.yaml']).stdout).toBe('---\n# Source: demo/templates/b.yaml\nkind: B\n');
    expect(runRender([c, '-s', 'templates/zz.yaml']).stderr).toMatch(/could not find template templates\/zz\.yaml/);
  });

  it('exits 1 with usage on a bad command line, and with the error on a bad chart', () => {
    const r = runRender(['--bogus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^render\.mjs: error: unknown option --bogus\nusage: node deploy\/helm\/render\.mjs <chartDir>/);
    expect(runRender([]).stderr).toMatch(/no chart directory given/);
    expect(runRender([path.join(dir, 'nowhere')]).stderr).toMatch(/no Chart\.yaml/);
    expect(runRender(['--help']).code).toBe(0);
  });
});
