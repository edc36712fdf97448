/**
 * Builds the symbolizer's test programs with the real toolchains (gcc, g++, rustc, go, objcopy) into the
 * test cache, keyed by a hash of the source, the build commands and the toolchain version, so later runs
 * reuse them. Under CI=true a missing tool is an error; elsewhere callers may skip.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const cacheRoot = process.env.UNIPROF_CACHE ?? join(homedir(), '.cache', 'uniprof');
const programDir = new URL('../symbolizer/programs/', import.meta.url).pathname;

export class MissingToolError extends Error {}

const versions = new Map<string, string>();

/** The tool's version line, or a MissingToolError naming the Debian package / installer to use. */
export function toolVersion(tool: string, hint: string): string {
  let v = versions.get(tool);
  if (v === undefined) {
    try {
      v = execFileSync(tool, tool === 'go' ? ['version'] : ['--version'], { encoding: 'utf8' }).split(
        '\n',
      )[0];
    } catch {
      throw new MissingToolError(
        `${tool} is not installed (${hint}); it is needed to build symbolizer test inputs`,
      );
    }
    versions.set(tool, v);
  }
  return v;
}

/** True if the tool exists; under CI a missing tool throws instead of letting the test skip. */
export function haveTool(tool: string, hint: string): boolean {
  try {
    toolVersion(tool, hint);
    return true;
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    return false;
  }
}

export interface BuiltProgram {
  /** The binary to symbolize. */
  binary: string;
  /** Separate debug file, when the variant makes one. */
  debugFile?: string;
  /** Directory holding everything the build produced. */
  dir: string;
}

/** A build command: `out` is the directory it writes to, `final` the directory the results end up in. */
type Step = { tool: string; args: (out: string, final: string) => string[] };

interface Variant {
  source: string;
  tools: [string, string][];
  steps: Step[];
  debugFile?: boolean;
  /** Extra environment (e.g. GOARCH for cross builds). */
  env?: Record<string, string>;
}

const GCC: [string, string] = ['gcc', 'apt-get install gcc'];
const GXX: [string, string] = ['g++', 'apt-get install g++'];
const OBJCOPY: [string, string] = ['objcopy', 'apt-get install binutils'];
const RUSTC: [string, string] = ['rustc', 'install Rust with rustup'];
const DWZ: [string, string] = ['dwz', 'apt-get install dwz'];
const GO: [string, string] = ['go', 'install Go from go.dev'];

const cc = (flags: string[]): Step => ({
  tool: 'gcc',
  args: (out) => [...flags, '-o', `${out}/prog`, `${programDir}prog.c`],
});

const rust = (mangling: string, dwarfVersion?: number): Variant => ({
  source: 'prog.rs',
  tools: [RUSTC],
  steps: [
    {
      tool: 'rustc',
      args: (out) => [
        '-C',
        'opt-level=2',
        '-C',
        'debuginfo=2',
        // Stable rustc mangles with the legacy scheme unless v0 is asked for.
        ...(mangling === 'v0' ? ['-C', 'symbol-mangling-version=v0'] : []),
        ...(dwarfVersion ? ['-C', `dwarf-version=${dwarfVersion}`] : []),
        '-o',
        `${out}/prog`,
        `${programDir}prog.rs`,
      ],
    },
  ],
});

const go = (ldflags: string, arch?: string): Variant => ({
  source: 'prog.go',
  tools: [GO],
  env: arch ? { GOARCH: arch } : undefined,
  steps: [
    {
      tool: 'go',
      args: (out) => ['build', `-ldflags=${ldflags}`, '-o', `${out}/prog`, `${programDir}prog.go`],
    },
  ],
});

export const variants = {
  'c-dwarf4': { source: 'prog.c', tools: [GCC], steps: [cc(['-O2', '-g', '-gdwarf-4'])] },
  'c-dwarf5': { source: 'prog.c', tools: [GCC], steps: [cc(['-O2', '-g', '-gdwarf-5'])] },
  'c-gz-zlib': { source: 'prog.c', tools: [GCC], steps: [cc(['-O2', '-g', '-gdwarf-5', '-gz=zlib'])] },
  'c-gz-zlib-gnu': {
    source: 'prog.c',
    tools: [GCC],
    steps: [cc(['-O2', '-g', '-gdwarf-4', '-gz=zlib-gnu'])],
  },
  'c-zstd': {
    source: 'prog.c',
    tools: [GCC, OBJCOPY],
    // gcc 12 has no -gz=zstd; binutils compresses the same sections with zstd.
    steps: [
      cc(['-O2', '-g', '-gdwarf-5']),
      { tool: 'objcopy', args: (out) => ['--compress-debug-sections=zstd', `${out}/prog`] },
    ],
  },
  'c-split': {
    source: 'prog.c',
    tools: [GCC, OBJCOPY],
    debugFile: true,
    steps: [
      cc(['-O2', '-g', '-gdwarf-5']),
      { tool: 'objcopy', args: (out) => ['--only-keep-debug', `${out}/prog`, `${out}/prog.debug`] },
      {
        tool: 'objcopy',
        args: (out) => ['--strip-debug', `--add-gnu-debuglink=${out}/prog.debug`, `${out}/prog`],
      },
    ],
  },
  cpp: {
    source: 'prog.cpp',
    tools: [GXX],
    steps: [
      {
        tool: 'g++',
        args: (out) => ['-O2', '-g', '-std=c++20', '-o', `${out}/prog`, `${programDir}prog.cpp`],
      },
    ],
  },
  // Split DWARF: the functions live in prog.dwo; the compilation directory recorded must be the final one.
  'cpp-split-dwarf5': {
    source: 'prog.cpp',
    tools: [GXX],
    steps: [
      {
        tool: 'g++',
        args: (out, final) => [
          '-O2',
          '-g',
          '-gsplit-dwarf',
          '-gdwarf-5',
          '-std=c++20',
          `-fdebug-prefix-map=${out}=${final}`,
          // A relative output name (the build runs in `out`) makes DW_AT_dwo_name relative to comp_dir.
          '-o',
          'prog',
          `${programDir}prog.cpp`,
        ],
      },
    ],
  },
  'cpp-split-dwarf4': {
    source: 'prog.cpp',
    tools: [GXX],
    steps: [
      {
        tool: 'g++',
        args: (out, final) => [
          '-O2',
          '-g',
          '-gsplit-dwarf',
          '-gdwarf-4',
          '-std=c++20',
          `-fdebug-prefix-map=${out}=${final}`,
          // A relative output name (the build runs in `out`) makes DW_AT_dwo_name relative to comp_dir.
          '-o',
          'prog',
          `${programDir}prog.cpp`,
        ],
      },
    ],
  },
  // dwz (as Debian's debug packages use): shared DIEs and strings move to a supplementary file named by
  // .gnu_debugaltlink. `orig` keeps the build before dwz for the oracle.
  'cpp-dwz': {
    source: 'prog.cpp',
    tools: [GXX, DWZ],
    steps: [
      {
        tool: 'g++',
        args: (out) => ['-O2', '-g', '-std=c++20', '-o', `${out}/prog`, `${programDir}prog.cpp`],
      },
      { tool: 'cp', args: (out) => [`${out}/prog`, `${out}/orig`] },
      { tool: 'cp', args: (out) => [`${out}/prog`, `${out}/prog2`] },
      { tool: 'dwz', args: () => ['-m', 'common.debug', '-M', 'common.debug', 'prog', 'prog2'] },
    ],
  },
  /** Large C++ program for the benchmark (not used by the tests). */
  'cpp-large': {
    source: 'large.cpp',
    tools: [GXX],
    steps: [
      {
        tool: 'g++',
        args: (out) => ['-O2', '-g', '-std=c++20', '-pthread', '-o', `${out}/prog`, `${programDir}large.cpp`],
      },
    ],
  },
  'rust-legacy': rust('legacy'),
  'rust-v0': rust('v0'),
  // LLVM's DWARF 5 (strx/addrx forms, string offset and address bases), which gcc does not emit.
  'rust-dwarf5': rust('v0', 5),
  'go-dwarf': go(''),
  'go-stripped': go('-s -w'),
  // Go cross-compiles without extra toolchains: real 32-bit little-endian, 64-bit big-endian and 32-bit
  // big-endian ELF files with DWARF and .gopclntab.
  'go-386': go('', '386'),
  'go-s390x': go('', 's390x'),
  'go-mips': go('', 'mips'),
} satisfies Record<string, Variant>;

export type VariantName = keyof typeof variants;

/** Whether every tool a variant needs is present (throws under CI when one is missing). */
export function canBuild(name: VariantName): boolean {
  return (variants[name] as Variant).tools.every(([tool, hint]) => haveTool(tool, hint));
}

/** Build a variant (or reuse the cached build) and return its paths. */
export function buildProgram(name: VariantName): BuiltProgram {
  const variant: Variant = variants[name];
  const hash = createHash('sha256');
  hash.update(readFileSync(join(programDir, variant.source)));
  for (const [tool, hint] of variant.tools) hash.update(toolVersion(tool, hint));
  for (const step of variant.steps) hash.update(`${step.tool} ${step.args('OUT', 'FINAL').join(' ')}\n`);
  hash.update(JSON.stringify(variant.env ?? {}));
  const dir = join(cacheRoot, 'symbolizer-programs', `${name}-${hash.digest('hex').slice(0, 16)}`);
  const result: BuiltProgram = { binary: join(dir, 'prog'), dir };
  if (variant.debugFile) result.debugFile = join(dir, 'prog.debug');
  if (existsSync(join(dir, '.complete'))) return result;
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const env = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0', ...variant.env };
  for (const step of variant.steps) {
    // Paths inside the binaries must be the final ones (debuglink, DWARF): build in the staging dir,
    // whose name only differs in the suffix, then compare against the oracle after the rename.
    try {
      execFileSync(step.tool, step.args(staging, dir), {
        cwd: staging,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(
        `building ${name}: ${step.tool} ${step.args(staging, dir).join(' ')} failed: ${stderr}`,
        {
          cause: error,
        },
      );
    }
  }
  execFileSync('touch', [join(staging, '.complete')]);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return result;
}
