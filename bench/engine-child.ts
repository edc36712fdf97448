/**
 * The symbolizer engine's measurements that need a fresh process each (`bench:symbolizer`,
 * `bench:returnpads`), printed as one JSON line. Started by bench/engine.ts: on plain Node (which strips
 * this file's types) against the compiled engine in dist/, as an installed Uniprof runs it; or, with
 * UNIPROF_BENCH_ENGINE=src, under tsx against the TypeScript sources.
 *
 *   engine-child.ts extract PATH            extract every range (not kept) cold, then again warm
 *   engine-child.ts cold-start PATH FILE    open PATH and answer every address of FILE (JSON), once
 *   engine-child.ts pads PATH               extract the ranges (kept), then generate the pads cold and warm
 *
 * With PATH '' only the modules are loaded: the Node baseline of peak RSS.
 */
import { readFileSync } from 'node:fs';
import type { SymbolRange } from '../src/model/symbols.ts';
import { peakRssMb, timed } from './child.ts';

type Extract = typeof import('../src/symbolizer/ranges/extract.ts');
type Symbolizer = typeof import('../src/symbolizer/symbolizer.ts');
type Generate = typeof import('../src/symbolizer/returnpads/generate.ts');

const fromSources = process.env.UNIPROF_BENCH_ENGINE === 'src';
function engineModule<T>(path: string): Promise<T> {
  const file = fromSources ? `../src/${path}.ts` : `../dist/${path}.js`;
  return import(new URL(file, import.meta.url).href) as Promise<T>;
}

const [mode, path = '', addressFile = ''] = process.argv.slice(2);
if (mode === 'extract') {
  const { extractRanges } = await engineModule<Extract>('symbolizer/ranges/extract');
  const extractAll = (): number => {
    let ranges = 0;
    for (const chunk of extractRanges(path)) ranges += chunk.length;
    return ranges;
  };
  const cold = path === '' ? undefined : timed(extractAll);
  // Peak RSS is the cold extraction's: the warm run may add the first run's not yet collected garbage.
  const maxRssMb = peakRssMb();
  const warm = path === '' ? undefined : timed(extractAll);
  console.log(
    JSON.stringify({
      ms: cold?.ms ?? 0,
      cpuMs: cold?.cpuMs ?? 0,
      warmMs: warm?.ms ?? 0,
      warmCpuMs: warm?.cpuMs ?? 0,
      ranges: cold?.value ?? 0,
      maxRssMb,
    }),
  );
} else if (mode === 'cold-start') {
  const { SymbolizedBinary } = await engineModule<Symbolizer>('symbolizer/symbolizer');
  const addresses = JSON.parse(readFileSync(addressFile, 'utf8')) as number[];
  const run = timed(() => {
    const binary = SymbolizedBinary.open(path);
    let frames = 0;
    for (const address of addresses) frames += binary.symbolize(address).length;
    binary.close();
    return frames;
  });
  console.log(JSON.stringify({ ms: run.ms, cpuMs: run.cpuMs, frames: run.value }));
} else if (mode === 'pads') {
  const { extractRanges } = await engineModule<Extract>('symbolizer/ranges/extract');
  const { returnPads } = await engineModule<Generate>('symbolizer/returnpads/generate');
  const result = {
    rangesMs: 0,
    padsMs: 0,
    padsCpuMs: 0,
    warmMs: 0,
    warmCpuMs: 0,
    ranges: 0,
    pads: 0,
    maxRssMb: 0,
  };
  if (path !== '') {
    const extracted = timed(() => {
      const ranges: SymbolRange[] = [];
      for (const chunk of extractRanges(path)) for (const range of chunk) ranges.push(range);
      return ranges;
    });
    const ranges = extracted.value;
    const generate = (): number => {
      let pads = 0;
      for (const chunk of returnPads(path, [ranges])) pads += chunk.length;
      return pads;
    };
    // Cold: the process's first generation (iced-x86's WebAssembly loaded, JIT cold); warm: as every later
    // file in a running symbolizer.
    const cold = timed(generate);
    const warm = timed(generate);
    Object.assign(result, {
      rangesMs: extracted.ms,
      ranges: ranges.length,
      pads: cold.value,
      padsMs: cold.ms,
      padsCpuMs: cold.cpuMs,
      warmMs: warm.ms,
      warmCpuMs: warm.cpuMs,
    });
  }
  result.maxRssMb = peakRssMb();
  console.log(JSON.stringify(result));
} else {
  throw new Error(`engine-child.ts: unknown mode ${mode}`);
}
