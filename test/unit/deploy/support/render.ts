/** Runs deploy/helm/render.mjs as users do (node, no build step) and loads its module for engine tests. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../../support/paths.js';
import { chartDir, isK8sObject, parseStream, type K8sObject } from './deploy-files.js';

export const renderScript = path.join(repoRoot, 'deploy', 'helm', 'render.mjs');
export const example = (name: string): string => path.join(repoRoot, 'deploy', 'helm', 'examples', name);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node deploy/helm/render.mjs <args>`. */
export function runRender(args: string[]): RunResult {
  const r = spawnSync(process.execPath, [renderScript, ...args], { encoding: 'utf8', cwd: repoRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Renders the chart with values files and extra arguments; throws with stderr on failure. */
export function renderObjects(valuesFiles: string[], extra: string[] = []): { stream: string; objects: K8sObject[] } {
  const args = [chartDir, ...valuesFiles.flatMap((f) => ['-f', f]), '--namespace', 'tunnel-system', '--release-name', 'tunnel', ...extra];
  const r = runRender(args);
  if (r.code !== 0) throw new Error(`render.mjs ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  const { docs, errors } = parseStream(r.stdout);
  if (errors.length) throw new Error(`render output does not parse: ${errors.join('; ')}`);
  return { stream: r.stdout, objects: docs.filter(isK8sObject) };
}

/** What the tests use from render.mjs's module. */
export interface RenderModule {
  renderChart(
    chartDir: string,
    opts?: { valuesFiles?: string[]; set?: string[]; setString?: string[]; namespace?: string; releaseName?: string; showOnly?: string },
  ): { documents: { source: string; text: string }[]; values: Record<string, unknown> };
  formatStream(documents: { source: string; text: string }[]): string;
  parseArgs(argv: string[]): Record<string, unknown>;
  TemplateError: new (message: string) => Error;
}

export async function loadRenderModule(): Promise<RenderModule> {
  return (await import(pathToFileURL(renderScript).href)) as RenderModule;
}
