/**
 * The tools that check the Helm chart, provisioned once into the cache:
 *   - helm, built with Go from the Go module proxy (`go install` of the pinned release);
 *   - kubeconform, the same way;
 *   - the Kubernetes API schemas of 1.25 … 1.31, from the PyPI package kubernetes-validate (one pinned wheel
 *     with strict per-version JSON schemas generated from each release's OpenAPI spec), converted into one
 *     standalone schema per API object, which kubeconform reads from disk.
 * Each lands under a temporary name and is renamed into place only when complete, so an interrupted run leaves
 * nothing that a later run would take for finished.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const GO_PROXY = 'https://proxy.golang.org';

export const HELM = {
  module: 'helm.sh/helm/v3',
  package: 'helm.sh/helm/v3/cmd/helm',
  version: 'v3.22.0',
  // A plain `go install` leaves helm's own version string at its source default ("v3.22"); say the release.
  ldflags: '-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0',
};
export const KUBECONFORM = {
  module: 'github.com/yannh/kubeconform',
  package: 'github.com/yannh/kubeconform/cmd/kubeconform',
  version: 'v0.7.0',
  ldflags: '-s -w',
};
/** The wheel and its digest: pip refuses anything else under --require-hashes. */
export const KUBERNETES_VALIDATE = {
  version: '1.37.0',
  sha256: '85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9',
};
/** The Kubernetes releases the chart supports (Chart.yaml kubeVersion) and is validated against. */
export const KUBERNETES_VERSIONS = ['1.25.0', '1.26.0', '1.27.0', '1.28.0', '1.29.0', '1.30.0', '1.31.0'];

/** Thrown when a tool cannot be provisioned; the message says exactly why. */
export class KubernetesToolUnavailableError extends Error {
  override readonly name = 'KubernetesToolUnavailableError';
}

function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? path.join(os.homedir(), '.cache', 'uniprof');
}

function describeFailure(error: unknown): string {
  const failure = error as Error & { stderr?: string };
  return (failure.stderr ?? '').trim().slice(-4000) || failure.message;
}

async function findGo(): Promise<string> {
  for (const candidate of [process.env.GO ?? '', 'go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (!candidate) continue;
    try {
      await run(candidate, ['version']);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new KubernetesToolUnavailableError(
    'helm/kubeconform: no Go toolchain found (tried $GO, go on PATH, /usr/local/go/bin/go)',
  );
}

/** The module version a Go binary was built from (`go version -m`), or undefined if it is not one. */
async function builtModuleVersion(go: string, binary: string, module: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(go, ['version', '-m', binary]);
    const line = stdout.split('\n').find((l) => l.trim().split(/\s+/)[0] === 'mod' && l.includes(module));
    return line?.trim().split(/\s+/)[2];
  } catch {
    return undefined;
  }
}

interface GoTool {
  module: string;
  package: string;
  version: string;
  ldflags: string;
}

/** `go install tool@version` into `<cache>/<name>/<version>/`, once. */
async function provisionGoTool(name: string, tool: GoTool): Promise<string> {
  const dir = path.join(cacheRoot(), name, tool.version);
  const binary = path.join(dir, name);
  const go = await findGo();
  if (existsSync(binary) && (await builtModuleVersion(go, binary, tool.module)) === tool.version)
    return binary;
  // A staging directory of this run's own: two test processes provisioning at once each build, the last
  // rename wins, and both binaries are the same.
  await mkdir(dir, { recursive: true });
  const staging = await mkdtemp(path.join(dir, 'staging-'));
  try {
    await run(go, ['install', '-trimpath', `-ldflags=${tool.ldflags}`, `${tool.package}@${tool.version}`], {
      env: {
        ...process.env,
        GOPROXY: GO_PROXY,
        GOBIN: staging,
        GOWORK: 'off',
        CGO_ENABLED: '0',
        GOFLAGS: '',
      },
      maxBuffer: 16 << 20,
      timeout: 20 * 60_000,
    });
    await rename(path.join(staging, name), binary);
  } catch (error) {
    throw new KubernetesToolUnavailableError(
      `${name}: go install ${tool.package}@${tool.version} failed: ${describeFailure(error)}`,
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return binary;
}

export function provisionHelm(): Promise<string> {
  return provisionGoTool('helm', HELM);
}

export function provisionKubeconform(): Promise<string> {
  return provisionGoTool('kubeconform', KUBECONFORM);
}

/** Where the converted schemas of one Kubernetes version live: `<dir>/<kind>-<group>-<version>.json`. */
function schemaDir(root: string, kubernetesVersion: string): string {
  return path.join(root, `v${kubernetesVersion}-strict`);
}

/** kubeconform's -schema-location for the schemas under `root` (its normalized version starts with `v`). */
export function schemaLocation(root: string): string {
  return path.join(
    root,
    '{{ .NormalizedKubernetesVersion }}-strict',
    '{{ .ResourceKind }}{{ .KindSuffix }}.json',
  );
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The wheel's resource schemas refer into one shared `/api/_definitions.json`, which only its Python loader maps. */
const DEFINITIONS_REF = '/api/_definitions.json#/$defs/';

/** Names of the definitions `value` refers to directly. */
function referencedDefinitions(value: Json, into: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const child of value) referencedDefinitions(child, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') into.add(child.slice(child.lastIndexOf('/') + 1));
      else referencedDefinitions(child, into);
    }
  }
  return into;
}

/** `value` with references into the shared file turned into local `#/$defs/…` ones, and without `$id`. */
function localized(value: Json): Json {
  if (Array.isArray(value)) return value.map(localized);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === '$id') continue;
    out[key] =
      key === '$ref' && typeof child === 'string' && child.startsWith(DEFINITIONS_REF)
        ? `#/$defs/${child.slice(DEFINITIONS_REF.length)}`
        : localized(child);
  }
  return out;
}

/**
 * "Strict" must mean it: every object definition that lists properties rejects others. Checked on conversion,
 * so a wheel that changed its meaning fails here rather than letting misspelt fields through.
 */
function assertStrict(definitions: JsonObject, version: string): void {
  for (const [name, definition] of Object.entries(definitions)) {
    if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) continue;
    if (definition.properties && definition.additionalProperties !== false) {
      throw new KubernetesToolUnavailableError(
        `kubernetes-validate ${KUBERNETES_VALIDATE.version}: ${version} definition ${name} allows unknown fields`,
      );
    }
  }
}

/**
 * One standalone schema per API object (a file whose schema has `kind`): the object's schema plus only the
 * definitions it reaches. kubeconform compiles one per kind; with the whole 1.3 MB shared file behind every
 * kind that took ten times the CPU.
 */
async function convertVersion(sourceDir: string, targetDir: string, version: string): Promise<void> {
  const shared = JSON.parse(await readFile(path.join(sourceDir, '_definitions.json'), 'utf8')) as {
    $defs: JsonObject;
  };
  const definitions = shared.$defs;
  assertStrict(definitions, version);
  await mkdir(targetDir, { recursive: true });
  for (const file of await readdir(sourceDir)) {
    if (!file.endsWith('.json') || file === '_definitions.json') continue;
    const schema = JSON.parse(await readFile(path.join(sourceDir, file), 'utf8')) as JsonObject;
    const properties = schema.properties as JsonObject | undefined;
    if (!properties?.kind || !properties.apiVersion) continue; // a part of objects, not an object
    const reached = new Set<string>();
    const pending = [...referencedDefinitions(schema, new Set())];
    for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
      if (reached.has(name)) continue;
      const definition = definitions[name];
      if (definition === undefined) {
        throw new KubernetesToolUnavailableError(
          `kubernetes schemas ${version}: ${file} refers to missing ${name}`,
        );
      }
      reached.add(name);
      pending.push(...referencedDefinitions(definition, new Set()));
    }
    const $defs = Object.fromEntries([...reached].sort().map((name) => [name, definitions[name]]));
    await writeFile(path.join(targetDir, file), JSON.stringify(localized({ ...schema, $defs })));
  }
}

/** The strict schemas of KUBERNETES_VERSIONS, converted once; returns their root directory. */
export async function provisionKubernetesSchemas(): Promise<string> {
  const root = path.join(
    cacheRoot(),
    'kubernetes-schemas',
    `kubernetes-validate-${KUBERNETES_VALIDATE.version}-standalone`,
  );
  const complete = path.join(root, '.complete');
  if (existsSync(complete) && (await readFile(complete, 'utf8')).trim() === KUBERNETES_VERSIONS.join(' ')) {
    return root;
  }
  await mkdir(path.dirname(root), { recursive: true });
  const work = await mkdtemp(`${root}.part-`);
  try {
    const requirements = path.join(work, 'requirements.txt');
    await writeFile(
      requirements,
      `kubernetes-validate==${KUBERNETES_VALIDATE.version} --hash=sha256:${KUBERNETES_VALIDATE.sha256}\n`,
    );
    try {
      await run(
        'python3',
        ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--require-hashes', '-r', requirements],
        { cwd: work, maxBuffer: 16 << 20, timeout: 10 * 60_000 },
      );
    } catch (error) {
      throw new KubernetesToolUnavailableError(
        `kubernetes schemas: pip download of kubernetes-validate ${KUBERNETES_VALIDATE.version} failed: ` +
          describeFailure(error),
      );
    }
    const wheel = path.join(work, `kubernetes_validate-${KUBERNETES_VALIDATE.version}-py3-none-any.whl`);
    const inWheel = (version: string) =>
      `kubernetes_validate/kubernetes-json-schema/v${version}-local-strict`;
    const unpacked = path.join(work, 'unpacked');
    await run('unzip', ['-q', wheel, ...KUBERNETES_VERSIONS.map((v) => `${inWheel(v)}/*`), '-d', unpacked], {
      maxBuffer: 16 << 20,
    });
    const converted = path.join(work, 'schemas');
    for (const version of KUBERNETES_VERSIONS) {
      await convertVersion(path.join(unpacked, inWheel(version)), schemaDir(converted, version), version);
    }
    await writeFile(path.join(converted, '.complete'), `${KUBERNETES_VERSIONS.join(' ')}\n`);
    await rm(root, { recursive: true, force: true });
    await rename(converted, root);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return root;
}
