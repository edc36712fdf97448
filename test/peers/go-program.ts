/**
 * Test peers that are Go programs generated here (a `main.go` and a `go.mod` naming exact module versions)
 * and built once with Go from the Go module proxy into the cache, under a lock so parallel test files never
 * build the same program twice. Nothing of them is committed; the sources are kept beside the binary, and a
 * change to them here means a rebuild.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withCacheLock } from './cache-lock.ts';

const run = promisify(execFile);

export const GO_PROXY = 'https://proxy.golang.org';

export function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? path.join(os.homedir(), '.cache', 'uniprof');
}

/** The first Go toolchain that answers `go version`: $GO, go on PATH, then the usual install places. */
export async function findGo(unavailable: (message: string) => Error): Promise<string> {
  for (const candidate of [process.env.GO ?? '', 'go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    if (!candidate) continue;
    try {
      await run(candidate, ['version']);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw unavailable('no Go toolchain found (tried $GO, go on PATH, /usr/local/go/bin/go)');
}

export interface GeneratedGoProgram {
  /** Cache directory of this program at these versions. */
  dir: string;
  binaryName: string;
  goMod: string;
  mainGo: string;
  /** Makes the error thrown when Go is missing or the build fails (the message says why). */
  unavailable: (message: string) => Error;
}

/**
 * Builds the program once into its cache directory and returns the binary's path. `go build -mod=mod` in
 * the generated module (not `go mod tidy`: it would also fetch the test dependencies of every package, some
 * of which the proxy does not serve) resolves each dependency by minimal version selection.
 */
export async function buildGoProgram(program: GeneratedGoProgram): Promise<string> {
  const { dir, binaryName } = program;
  const binary = path.join(dir, binaryName);
  const stamp = path.join(dir, `${binaryName}.sources`);
  const sources = `${program.goMod}\n${program.mainGo}`;
  const current = async () =>
    existsSync(binary) && (await readFile(stamp, 'utf8').catch(() => '')) === sources;
  if (await current()) return binary;
  return withCacheLock(dir, 'build', async () => {
    if (await current()) return binary; // built by the test process that held the lock before us
    const go = await findGo(program.unavailable);
    const source = path.join(dir, 'src');
    await rm(source, { recursive: true, force: true });
    await mkdir(source, { recursive: true });
    await writeFile(path.join(source, 'go.mod'), program.goMod);
    await writeFile(path.join(source, 'main.go'), program.mainGo);
    const partial = `${binary}.part`;
    try {
      await run(go, ['build', '-trimpath', '-ldflags=-s -w', '-o', partial, '.'], {
        cwd: source,
        env: { ...process.env, GOPROXY: GO_PROXY, GOFLAGS: '-mod=mod', GOWORK: 'off', CGO_ENABLED: '0' },
        maxBuffer: 16 << 20,
        timeout: 30 * 60_000,
      });
    } catch (error) {
      const failure = error as Error & { stderr?: string };
      throw program.unavailable(
        `go build in ${source} failed: ${(failure.stderr ?? '').trim().slice(-4000) || failure.message}`,
      );
    }
    await rename(partial, binary);
    await writeFile(stamp, sources);
    return binary;
  });
}

/**
 * The `main` of a generated OpenTelemetry Collector: its build info, the `components()` the program defines,
 * and configuration from files and the environment. Each collector peer generates only its components.
 */
export function collectorMain(info: { command: string; description: string; version: string }): string {
  return `func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "${info.command}",
			Description: "${info.description}",
			Version:     "${info.version}",
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory()},
				DefaultScheme:     "env",
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}`;
}
