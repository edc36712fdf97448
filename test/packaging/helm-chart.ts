/**
 * The Helm chart under test: rendering it with the real helm, and validating manifests with kubeconform against
 * the strict Kubernetes API schemas of one release.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../../scripts/package/inputs.ts';
import { schemaLocation } from '../peers/kubernetes-tools.ts';

export const CHART = join(ROOT, 'deploy', 'helm', 'uniprof');
export const RELEASE = 'prof';
export const NAMESPACE = 'profiling';

/** The example value sets shipped with the chart (`ci/*-values.yaml`). */
export function valueSets(): string[] {
  return readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort();
}

export interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runTool(binary: string, args: string[], input?: string): Outcome {
  const result = spawnSync(binary, args, { encoding: 'utf8', input, maxBuffer: 64 << 20, timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface HelmOptions {
  valuesFile?: string;
  set?: string[];
  kubeVersion: string;
}

function valueArgs(options: HelmOptions): string[] {
  return [
    ...(options.valuesFile ? ['-f', join(CHART, 'ci', options.valuesFile)] : []),
    ...(options.set ?? []).flatMap((s) => ['--set', s]),
    '--kube-version',
    options.kubeVersion,
  ];
}

export function helmLint(helm: string, options: HelmOptions): Outcome {
  return runTool(helm, ['lint', '--strict', CHART, ...valueArgs(options)]);
}

/** `helm template`, as `helm install` would render it into NAMESPACE. */
export function helmTemplate(helm: string, options: HelmOptions): Outcome {
  return runTool(helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...valueArgs(options)]);
}

/**
 * The install notes (templates/NOTES.txt) as `helm install` would print them. `helm template` leaves the notes
 * out and `helm install --dry-run` has no --kube-version, so a copy of the chart renders them into a ConfigMap
 * with `tpl` (same values, same named templates).
 */
export function helmNotes(helm: string, options: HelmOptions): Outcome & { notes?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-helm-notes-'));
  try {
    const chart = join(dir, 'uniprof');
    cpSync(CHART, chart, { recursive: true });
    copyFileSync(join(chart, 'templates', 'NOTES.txt'), join(chart, 'notes.txt'));
    writeFileSync(
      join(chart, 'templates', 'zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
    );
    const outcome = runTool(helm, [
      'template',
      RELEASE,
      chart,
      '--namespace',
      NAMESPACE,
      '--show-only',
      'templates/zz-notes.yaml',
      ...valueArgs(options),
    ]);
    if (outcome.status !== 0) return outcome;
    const [configMap] = parseManifests(outcome.stdout) as (Manifest & { data: { notes: string } })[];
    return { ...outcome, notes: configMap.data.notes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Kubernetes object as rendered; fields are read through the accessors of the tests. */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string } } & Record<
  string,
  unknown
>;

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

export interface ValidationResult {
  resources: { filename: string; kind: string; name: string; version: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/**
 * kubeconform, strict, against one Kubernetes release's schemas; a resource without a schema there (an API the
 * release does not serve) is an error, never skipped. Each manifest set goes into a `.yaml` file of its own:
 * kubeconform silently ignores files with other extensions.
 */
export function kubeconform(
  binary: string,
  schemas: string,
  kubernetesVersion: string,
  manifests: Record<string, string>,
): ValidationResult {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-kubeconform-'));
  try {
    const files = Object.entries(manifests).map(([name, text]) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, text);
      return file;
    });
    const outcome = runTool(binary, [
      '-strict',
      '-summary',
      '-verbose',
      '-output',
      'json',
      '-schema-location',
      schemaLocation(schemas),
      '-kubernetes-version',
      kubernetesVersion,
      ...files,
    ]);
    if (outcome.status !== 0 && outcome.status !== 1) {
      throw new Error(`kubeconform exited ${outcome.status}: ${outcome.stderr}`);
    }
    const result = JSON.parse(outcome.stdout) as ValidationResult;
    for (const resource of result.resources) resource.filename = resource.filename.slice(dir.length + 1);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
