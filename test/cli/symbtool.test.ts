/**
 * `uniprof symbtool` as a user runs it (a child process) against a real upload server over a real embedded
 * store: a gcc -g program is stripped, its symbols pushed, and the stored ranges must answer every function
 * start and random addresses exactly as llvm-symbolizer does on the unstripped build.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { framesAt, type ReturnPad } from '../../src/model/symbols.ts';
import { ElfFile } from '../../src/symbolizer/elf/elf.ts';
import { extractRanges } from '../../src/symbolizer/ranges/extract.ts';
import { returnPads } from '../../src/symbolizer/returnpads/generate.ts';
import { fileIdOfExecutable } from '../../src/symbolizer/upload/file-id.ts';
import { buildProgram, canBuild, haveTool } from '../peers/toolchains.ts';
import { llvmSymbolize, testAddresses, type OracleFrame } from '../symbolizer/oracle.ts';
import { startUploadServer, type UploadServer } from '../symbolizer/upload-helpers.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'uniprof-symbtool-'));
after(() => rmSync(work, { recursive: true, force: true }));

const haveAll =
  canBuild('c-dwarf5') &&
  canBuild('cpp') &&
  haveTool('llvm-symbolizer', 'apt-get install llvm') &&
  haveTool('objcopy', 'apt-get install binutils') &&
  haveTool('strip', 'apt-get install binutils');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function symbtool(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'symbtool', ...args], {
      env: { ...process.env, UNIPROF_SYMBOL_UPLOAD_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const show = (run: Run) => `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;

function buildIdOf(path: string): string | undefined {
  const elf = ElfFile.open(path);
  try {
    return elf.buildId();
  } finally {
    elf.close();
  }
}

/**
 * Names llvm-symbolizer 14 leaves mangled (it cannot demangle `srSt…` expressions; the symbolizer follows GNU
 * c++filt there, see docs/symbolizer.md) are demangled with c++filt, so the comparison is of names.
 */
function cxxfiltLeftovers(answers: OracleFrame[][]): OracleFrame[][] {
  const mangled = [
    ...new Set(
      answers
        .flat()
        .map((f) => f.functionName)
        .filter((n) => n.startsWith('_Z')),
    ),
  ];
  if (mangled.length === 0) return answers;
  const demangled = execFileSync('c++filt', [], { input: mangled.join('\n') + '\n', encoding: 'utf8' }).split(
    '\n',
  );
  const names = new Map(mangled.map((name, i) => [name, demangled[i]]));
  return answers.map((frames) =>
    frames.map((f) => ({ ...f, functionName: names.get(f.functionName) ?? f.functionName })),
  );
}

describe(
  'uniprof symbtool',
  { skip: !haveAll && 'gcc, llvm-symbolizer or binutils missing', timeout: 300_000 },
  () => {
    let server: UploadServer;
    let unstripped: string;
    let stripped: string;
    let stripedFileId: string;
    before(async () => {
      server = await startUploadServer();
      const built = buildProgram('c-dwarf5'); // test/symbolizer/programs/prog.c, gcc -O2 -g -gdwarf-5
      unstripped = join(work, 'prog');
      stripped = join(work, 'prog.stripped');
      copyFileSync(built.binary, unstripped);
      execFileSync('strip', ['-o', stripped, unstripped]);
      stripedFileId = fileIdOfExecutable(stripped).fileId;
    });
    after(() => server?.close());

    const push = (args: string[], env?: NodeJS.ProcessEnv) =>
      symbtool(['push-symbols', '-u', server.url, ...args], env);

    /**
     * The stored ranges of `fileId` against llvm-symbolizer on the unstripped build, at every function start
     * and random addresses inside functions (demangled names on both sides).
     */
    async function compareWithLlvm(
      unstripped: string,
      fileId: string,
      label: string,
    ): Promise<{ inlined: number }> {
      // Every function start plus random addresses inside functions.
      const addresses = testAddresses(unstripped, 4000);
      const ranges = await server.store.symbolization.symbolRanges(fileId, addresses);
      const ours = addresses.map((a) => framesAt(ranges.get(a) ?? [], a));
      // Function names: the symbolizer's ranges carry DWARF names (see docs/symbolizer.md), which is what
      // llvm-symbolizer reports without a symbol table; files, lines and inner frames: the unstripped build.
      const noSymtab = `${unstripped}.nosymtab`;
      execFileSync('objcopy', ['--strip-all', '--keep-section=.debug_*', unstripped, noSymtab]);
      const byDwarf = cxxfiltLeftovers(llvmSymbolize(noSymtab, addresses, true));
      const byBuild = cxxfiltLeftovers(llvmSymbolize(unstripped, addresses, true));
      const chain = (frames: OracleFrame[]) =>
        frames.map((f) => `${f.functionName} ${f.fileName}:${f.line}`).join(' <- ');
      const places = (frames: OracleFrame[]) => frames.map((f) => `${f.fileName}:${f.line}`).join(' <- ');
      let chainsEqual = 0;
      let placesEqual = 0;
      let inlined = 0;
      const mismatches: string[] = [];
      addresses.forEach((address, i) => {
        const mine = ours[i];
        if (mine.length > 1) inlined++;
        // Code without DWARF (crt's _start) is named from the symbol table, as on the unstripped build.
        const expected = byDwarf[i].some((f) => f.functionName !== '') ? byDwarf[i] : byBuild[i];
        if (chain(mine) === chain(expected)) chainsEqual++;
        else mismatches.push(`0x${address.toString(16)}: ours ${chain(mine)} | llvm ${chain(expected)}`);
        if (
          places(mine) === places(byBuild[i]) &&
          mine.slice(0, -1).every((f, k) => f.functionName === byBuild[i][k].functionName)
        )
          placesEqual++;
        else
          mismatches.push(
            `0x${address.toString(16)}: ours ${chain(mine)} | llvm (unstripped) ${chain(byBuild[i])}`,
          );
      });
      console.log(
        `# ${label}: ${addresses.length} addresses (${inlined} in inlined code): chains equal llvm-symbolizer's (DWARF names) ${chainsEqual}, ` +
          `files/lines/inner frames equal llvm-symbolizer's on the unstripped build ${placesEqual}`,
      );
      assert.deepEqual(mismatches.slice(0, 20), [], label);
      return { inlined };
    }

    async function stored(fileId: string): Promise<boolean> {
      return (await server.store.symbolization.filesWithSymbols([fileId])).has(fileId);
    }

    it('file-id prints the file ID the agent computes and the build ID', async () => {
      const run = await symbtool(['file-id', '--json', stripped]);
      assert.equal(run.code, 0, show(run));
      const printed = JSON.parse(run.stdout) as { fileId: string; fileIdBase64Url: string; buildId: string };
      assert.equal(printed.fileId, fileIdOfExecutable(stripped).hex);
      assert.equal(printed.fileIdBase64Url, stripedFileId);
      const readelf = execFileSync('readelf', ['-n', stripped], { encoding: 'utf8' });
      assert.equal(printed.buildId, /Build ID: ([0-9a-f]+)/.exec(readelf)?.[1]);
      const text = await symbtool(['file-id', stripped]);
      assert.match(text.stdout, new RegExp(`file ID\\s+${printed.fileId}`));
      // Stripping changes the bytes, so the file ID, but not the build ID.
      assert.notEqual(fileIdOfExecutable(unstripped).fileId, stripedFileId);
    });

    it('refuses bad input with a clear message, a non-zero exit, and sends nothing', async () => {
      const notElf = join(work, 'not-elf');
      writeFileSync(notElf, '#!/bin/sh\necho hello\n'.repeat(10));
      const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; code: number; message: RegExp }> = [
        {
          args: ['-t', server.token, '-e', notElf],
          code: 1,
          message: /not-elf is not a usable ELF file: not an ELF file/,
        },
        {
          args: ['-t', server.token, '-e', join(work, 'missing')],
          code: 1,
          message: /cannot read the executable .*ENOENT/,
        },
        {
          args: ['-t', server.token, '-e', stripped],
          code: 1,
          message: /no debug info for .*prog.stripped.*-d\/--debug-file/,
        },
        {
          args: ['-t', server.token, '-e', stripped, '-d', stripped],
          code: 1,
          message: /has no DWARF debug info/,
        },
        {
          args: ['-e', stripped, '-d', unstripped],
          code: 2,
          message: /no upload token: pass -t\/--token or set UNIPROF_SYMBOL_UPLOAD_TOKEN/,
        },
        {
          args: ['-t', 'wrong', '-e', stripped, '-d', unstripped],
          code: 1,
          message: /server answered 401: the symbol upload token is not valid/,
        },
        {
          args: ['-e', stripped, '-d', unstripped],
          env: { UNIPROF_SYMBOL_UPLOAD_TOKEN: 'wrong' },
          code: 1,
          message: /server answered 401/,
        },
      ];
      for (const c of cases) {
        const run = await push(c.args, c.env);
        assert.equal(run.code, c.code, `${c.args.join(' ')}: ${show(run)}`);
        assert.match(run.stderr, c.message, show(run));
        assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
      }
      // A debug file of another build is refused by build ID.
      const other = join(work, 'other');
      writeFileSync(`${other}.c`, 'int main(void) { return 0; }\n');
      execFileSync('gcc', ['-g', '-o', other, `${other}.c`]);
      const mismatch = await push(['-t', server.token, '-e', stripped, '-d', other]);
      assert.equal(mismatch.code, 1, show(mismatch));
      assert.match(mismatch.stderr, /is not the debug file of .*build ID/);
      const unreachable = await symbtool([
        'push-symbols',
        '-u',
        'http://127.0.0.1:1',
        '-t',
        'x',
        '-e',
        stripped,
        '-d',
        unstripped,
      ]);
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /cannot reach http:\/\/127.0.0.1:1/);
      assert.equal(await stored(stripedFileId), false);
    });

    it('pushes the symbols of a stripped program; the store answers like llvm-symbolizer on the unstripped one', async () => {
      const run = await push(['-t', server.token, '-e', stripped, '-d', unstripped]);
      assert.equal(run.code, 0, show(run));
      assert.match(
        run.stdout,
        /uploaded symbols for .*prog.stripped \(file ID [0-9a-f]{32}, build ID [0-9a-f]+\)/,
      );
      assert.match(
        run.stderr,
        /push-symbols: [\d,]+ ranges extracted, [\d.]+ [KM]?i?B sent/,
        'progress lines on stderr',
      );
      const sent =
        /([\d,]+) ranges in [\d,]+ chunks; ([\d.]+ [KM]?i?B) sent \(([\d.]+ [KM]?i?B) uncompressed\) for ([\d.]+ [KM]?i?B)/.exec(
          run.stdout,
        );
      assert.ok(sent, run.stdout);
      console.log(
        `# test program (gcc -O2 -g -gdwarf-5, ${statSync(unstripped).size} bytes unstripped): ${sent[1]} ranges, ${sent[2]} sent (${sent[3]} uncompressed) for a ${sent[4]} debug file`,
      );
      assert.equal(await stored(stripedFileId), true);
      assert.equal(
        await stored(fileIdOfExecutable(unstripped).fileId),
        false,
        'stored under the stripped file ID',
      );

      const { inlined } = await compareWithLlvm(unstripped, stripedFileId, 'prog.c');
      assert.ok(inlined > 20, 'the program has inlined code at many of the addresses');
    });

    it('pushes a stripped C++ program (templates, inlining); the store answers like llvm-symbolizer', async () => {
      const built = buildProgram('cpp'); // test/symbolizer/programs/prog.cpp, g++ -O2 -g
      const dir = mkdtempSync(join(work, 'cpp-'));
      const full = join(dir, 'prog');
      const bare = join(dir, 'prog.stripped');
      copyFileSync(built.binary, full);
      execFileSync('strip', ['-o', bare, full]);
      const run = await push(['-t', server.token, '-e', bare, '-d', full]);
      assert.equal(run.code, 0, show(run));
      const fileId = fileIdOfExecutable(bare).fileId;
      const { inlined } = await compareWithLlvm(full, fileId, 'prog.cpp');
      assert.ok(inlined > 500, `inlined code at ${inlined} addresses`);
    });

    it("pushes return pads: the store answers the program's return addresses with the pads the worker makes", async () => {
      const built = buildProgram('cpp'); // g++ -O2 -g: many calls inside inlined code
      const dir = mkdtempSync(join(work, 'pads-'));
      const full = join(dir, 'prog');
      const bare = join(dir, 'prog.stripped');
      copyFileSync(built.binary, full);
      execFileSync('strip', ['-o', bare, full]);
      const run = await push(['-t', server.token, '-e', bare, '-d', full, '--force']);
      assert.equal(run.code, 0, show(run));
      const count = /([\d,]+) return pads from the code of .*prog\.stripped/.exec(run.stdout);
      assert.ok(count, run.stdout);
      // What the symbolizer's worker makes for this file: its generator over the executable's code and the
      // ranges of the debug file.
      const expected: ReturnPad[] = [];
      for (const chunk of returnPads(bare, extractRanges(bare, { debugFile: full }))) expected.push(...chunk);
      assert.ok(expected.length > 100, `${expected.length} pads`);
      assert.equal(Number(count[1].replace(/,/g, '')), expected.length, 'every pad sent');
      const fileId = fileIdOfExecutable(bare).fileId;
      const addresses = expected.map((p) => p.address);
      // Addresses next to the pads have none.
      const others = addresses.map((a) => a - 1).filter((a) => !addresses.includes(a));
      const padsStored = await server.store.symbolization.returnPads(fileId, [...addresses, ...others]);
      assert.equal(padsStored.size, expected.length, 'a pad at every return address - 1, and only there');
      let inlined = 0;
      for (const pad of expected) {
        assert.deepEqual(padsStored.get(pad.address), pad.frames, `pad at 0x${pad.address.toString(16)}`);
        if (pad.frames.length > 1) inlined++;
      }
      assert.ok(inlined > 20, `${inlined} pads with inline chains`);
      console.log(`# prog.cpp: ${expected.length} return pads pushed (${inlined} with inline chains)`);

      // A separate debug file given as -e has no code: ranges only, and the output says why.
      const debugOnly = join(dir, 'prog.debug');
      execFileSync('objcopy', ['--only-keep-debug', full, debugOnly]);
      const noCode = await push(['-t', server.token, '-e', debugOnly]);
      assert.equal(noCode.code, 0, show(noCode));
      assert.match(noCode.stdout, /no return pads: no executable code in the file/);
      const debugId = fileIdOfExecutable(debugOnly).fileId;
      assert.equal(await stored(debugId), true, 'its ranges are stored');
      assert.equal((await server.store.symbolization.returnPads(debugId, addresses)).size, 0);

      // --no-return-pads sends ranges only; the file's earlier pads go with its earlier ranges.
      const rangesOnly = await push([
        '-t',
        server.token,
        '-e',
        bare,
        '-d',
        full,
        '--force',
        '--no-return-pads',
      ]);
      assert.equal(rangesOnly.code, 0, show(rangesOnly));
      assert.match(rangesOnly.stdout, /no return pads \(--no-return-pads\)/);
      assert.equal((await server.store.symbolization.returnPads(fileId, addresses)).size, 0);
    });

    it('says "already uploaded"; with --force uploads again and the answers stay the same', async () => {
      const addresses = testAddresses(unstripped, 600, 200, 7);
      const before = await server.store.symbolization.symbolRanges(stripedFileId, addresses);
      const again = await push(['-t', server.token, '-e', stripped, '-d', unstripped]);
      assert.equal(again.code, 0, show(again));
      assert.match(again.stdout, /already uploaded; --force uploads them again/);
      const forced = await push(['-t', server.token, '-e', stripped, '-d', unstripped, '--force']);
      assert.equal(forced.code, 0, show(forced));
      assert.match(forced.stdout, /uploaded symbols/);
      const after = await server.store.symbolization.symbolRanges(stripedFileId, addresses);
      for (const address of addresses) {
        assert.deepEqual(
          framesAt(after.get(address) ?? [], address),
          framesAt(before.get(address) ?? [], address),
        );
        assert.equal(after.get(address)?.length, before.get(address)?.length, 'no duplicated ranges');
      }
    });

    it('finds the debug file by .gnu_debuglink when -d is not given', async () => {
      const dir = mkdtempSync(join(work, 'linked-'));
      const debug = join(dir, 'prog.debug');
      const linked = join(dir, 'prog');
      execFileSync('objcopy', ['--only-keep-debug', unstripped, debug]);
      execFileSync('objcopy', ['--strip-all', `--add-gnu-debuglink=${debug}`, unstripped, linked]);
      const run = await push(['-e', linked, '--debug-dir', join(dir, 'none')], {
        UNIPROF_SYMBOL_UPLOAD_TOKEN: server.token,
      });
      assert.equal(run.code, 0, show(run));
      assert.match(run.stderr, /reading debug info from .*prog\.debug/);
      const fileId = fileIdOfExecutable(linked).fileId;
      assert.equal(await stored(fileId), true);
      const main = testAddresses(unstripped, 50, 20)[0];
      const ranges = await server.store.symbolization.symbolRanges(fileId, [main]);
      assert.deepEqual(
        framesAt(ranges.get(main) ?? [], main).map((f) => f.functionName),
        llvmSymbolize(join(work, 'prog.nosymtab'), [main])[0].map((f) => f.functionName),
      );
      assert.ok(buildIdOf(linked));
    });

    it("prints the server's 413 when the upload is over its limit, and nothing is stored", async () => {
      const small = await startUploadServer({ maxUploadBytes: 600 });
      try {
        const run = await symbtool([
          'push-symbols',
          '-u',
          small.url,
          '-t',
          small.token,
          '-e',
          stripped,
          '-d',
          unstripped,
        ]);
        assert.equal(run.code, 1, show(run));
        assert.match(
          run.stderr,
          /server answered 413: .*exceeds the upload limit of 600 bytes|server answered 413: upload exceeds the limit of 600 bytes/,
        );
        assert.equal((await small.store.symbolization.filesWithSymbols([stripedFileId])).size, 0);
      } finally {
        await small.close();
      }
    });
  },
);
