/**
 * Inputs of the symbolizer service tests: a gcc -g program, its stripped copy and its debug file laid out by
 * build ID in a debug directory of its own, and profiles whose native frames point into it, translated by
 * the collector's real translator.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { fileIdFromHex, frameId, type ProfileBatch } from '../../src/model/index.ts';
import { uint64Bits, type ExportProfilesServiceRequest } from '../../src/protocol/index.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { buildProgram } from '../peers/toolchains.ts';
import { testAddresses } from './oracle.ts';

export function tempDir(t: TestContext, prefix = 'uniprof-symbolizer-service-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { waitFor } from '../support/wait.ts';

export function buildIdOf(path: string): string {
  const elf = ElfFile.open(path);
  try {
    const buildId = elf.buildId();
    if (!buildId) throw new Error(`${path} has no GNU build ID`);
    return buildId;
  } finally {
    elf.close();
  }
}

/** Where a debug file goes for lookups by build ID: `<dir>/.build-id/xx/rest.debug`. */
export function buildIdPath(debugDir: string, buildId: string): string {
  return join(debugDir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
}

export interface TestProgram {
  /** The gcc -O2 -g build, debug info inside: the oracle symbolizes this. */
  unstripped: string;
  /** The same program with its debug sections stripped (what runs on a host). */
  stripped: string;
  /** Its separate debug file, not yet in any debug directory. */
  debugFile: string;
  buildId: string;
}

/** The C test program, stripped and split with objcopy into `dir`. */
export function splitProgram(
  dir: string,
  variant: 'c-dwarf5' | 'c-dwarf4' | 'cpp' | 'cpp-large' = 'c-dwarf5',
  name = 'prog',
): TestProgram {
  const unstripped = buildProgram(variant).binary;
  const stripped = join(dir, name);
  const debugFile = join(dir, `${name}.debug`);
  execFileSync('objcopy', ['--only-keep-debug', unstripped, debugFile]);
  execFileSync('objcopy', ['--strip-debug', unstripped, stripped]);
  return { unstripped, stripped, debugFile, buildId: buildIdOf(unstripped) };
}

/**
 * A copy of an ELF64 little-endian file whose `section` header points past the end of the file: its
 * identity (header, build ID note) is intact, so lookups accept it, but its debug information cannot be read.
 */
export function corruptSectionCopy(source: string, section: string, target: string): void {
  const elf = ElfFile.open(source);
  const index = elf.sections.findIndex((s) => s.name === section);
  elf.close();
  if (index < 0) throw new Error(`${source} has no ${section}`);
  const bytes = readFileSync(source);
  const sectionHeaders = Number(bytes.readBigUInt64LE(0x28));
  const entrySize = bytes.readUInt16LE(0x3a);
  // sh_offset is the fifth field of an Elf64_Shdr, 24 bytes in.
  bytes.writeBigUInt64LE(BigInt(bytes.length) * 16n, sectionHeaders + index * entrySize + 0x18);
  writeFileSync(target, bytes);
}

/** Puts a debug file where a lookup by build ID finds it. */
export function installDebugFile(debugDir: string, buildId: string, file: string): string {
  const target = buildIdPath(debugDir, buildId);
  mkdirSync(join(target, '..'), { recursive: true });
  copyFileSync(file, target);
  return target;
}

export interface ProfiledExecutable {
  fileIdHex: string;
  fileName: string;
  buildId?: string;
  addresses: number[];
}

export function randomFileIdHex(): string {
  return randomBytes(16).toString('hex');
}

/** Addresses in the program's functions: every function start and random addresses inside them. */
export function programAddresses(binary: string, count: number): number[] {
  return [...new Set(testAddresses(binary, count))];
}

/**
 * An agent-shaped request whose stacks are native frames of these executables (four frames each, leaf first)
 * plus one Python frame, so that the frames of other types are there too.
 */
export function nativeProfileRequest(
  executables: readonly ProfiledExecutable[],
  seconds: number,
): ExportProfilesServiceRequest {
  const strings = [
    '',
    'samples',
    'count',
    'process.executable.build_id.htlhash',
    'process.executable.build_id.gnu',
    'profile.frame.type',
    'thread.name',
    'main',
    'handle',
    'app.py',
  ];
  const string = (text: string): number => {
    let index = strings.indexOf(text);
    if (index < 0) index = strings.push(text) - 1;
    return index;
  };
  type Dictionary = NonNullable<ExportProfilesServiceRequest['dictionary']>;
  const attributeTable: NonNullable<Dictionary['attributeTable']> = [{}];
  const attribute = (key: string, value: string): number =>
    attributeTable.push({ keyStrindex: string(key), value: { stringValue: value } }) - 1;
  const native = attribute('profile.frame.type', 'native');
  const python = attribute('profile.frame.type', 'python');
  const thread = attribute('thread.name', 'worker');
  const mappingTable: NonNullable<Dictionary['mappingTable']> = [{}];
  const locationTable: NonNullable<Dictionary['locationTable']> = [
    {},
    { lines: [{ functionIndex: 1, line: 7 }], attributeIndices: [python] },
  ];
  const stackTable: NonNullable<Dictionary['stackTable']> = [{ locationIndices: [] }];
  for (const executable of executables) {
    const attributes = [attribute('process.executable.build_id.htlhash', executable.fileIdHex)];
    if (executable.buildId) attributes.push(attribute('process.executable.build_id.gnu', executable.buildId));
    const mapping =
      mappingTable.push({ filenameStrindex: string(executable.fileName), attributeIndices: attributes }) - 1;
    const first = locationTable.length;
    for (const address of executable.addresses)
      locationTable.push({ mappingIndex: mapping, address, attributeIndices: [native] });
    for (let i = 0; i < executable.addresses.length; i += 4) {
      const frames: number[] = [];
      for (let k = i; k < Math.min(i + 4, executable.addresses.length); k++) frames.push(first + k);
      stackTable.push({ locationIndices: [...frames, 1] });
    }
  }
  const nanos = uint64Bits(BigInt(seconds) * 1_000_000_000n);
  const samples = stackTable.slice(1).map((_, i) => ({
    stackIndex: i + 1,
    attributeIndices: [thread],
    timestampsUnixNano: [nanos],
  }));
  return {
    dictionary: {
      stringTable: strings,
      attributeTable,
      mappingTable,
      locationTable,
      functionTable: [{}, { nameStrindex: string('handle'), filenameStrindex: string('app.py') }],
      stackTable,
      linkTable: [{}],
    },
    resourceProfiles: [
      {
        resource: { attributes: [{ key: 'host.id', value: { stringValue: 'host-s' } }] },
        scopeProfiles: [
          {
            scope: { name: 'ebpf-profiler', version: 'v0.0.202633' },
            profiles: [
              {
                sampleType: { typeStrindex: string('samples'), unitStrindex: string('count') },
                timeUnixNano: nanos,
                durationNano: 5_000_000_000,
                samples,
              },
            ],
          },
        ],
      },
    ],
  };
}

/** The batch the collector would write for these executables' frames. */
export function nativeProfileBatch(
  executables: readonly ProfiledExecutable[],
  seconds: number,
): ProfileBatch {
  return new ProfileTranslator().translate(nativeProfileRequest(executables, seconds), { now: seconds })
    .batch;
}

/** The frame ID the collector gives a native frame at `address` of the executable. */
export function nativeFrameId(executable: ProfiledExecutable, address: number): string {
  return frameId(fileIdFromHex(executable.fileIdHex), BigInt(address));
}
