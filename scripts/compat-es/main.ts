/**
 * `npm run compat:es`: the document-level comparison of Uniprof's Elasticsearch store with the OpenTelemetry
 * Collector's Elasticsearch exporter (see run.ts and compare.ts; docs/elasticsearch.md, "Compared with the
 * reference").
 *
 *   npm run compat:es                          load-generator requests plus the agent's captured ones
 *   npm run compat:es -- --requests DIR        the request bodies in DIR (what `--record-dir` wrote)
 *   npm run compat:es -- --samples 20000       load-generator size (samples; default 10 000)
 *   npm run compat:es -- --save-dumps F.json   also keep both clusters' documents in F.json
 *   npm run compat:es -- --dumps F.json        compare the documents kept in F.json again (no clusters)
 *
 * Exits 1 when a difference is not explained.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { compareDumps, formatReport, type ComparisonResult } from './compare.ts';
import type { DumpedDocument } from './dump.ts';
import { loadgenRequests, readRequestDir, throughReference, throughUniprof } from './run.ts';

const AGENT_CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fuzz/corpus');
const SAMPLES_PER_REQUEST = 500;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      samples: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '7' },
      'save-dumps': { type: 'string' },
      dumps: { type: 'string' },
    },
  });
  if (values.dumps) {
    const saved = JSON.parse(await readFile(values.dumps, 'utf8')) as SavedDumps;
    report(compareDumps(new Map(saved.reference), new Map(saved.ours)));
    return;
  }
  let requests: Uint8Array[];
  if (values.requests) {
    requests = await readRequestDir(values.requests);
    if (requests.length === 0) throw new Error(`no *.binpb request bodies in ${values.requests}`);
    console.log(`${requests.length} requests from ${values.requests}`);
  } else {
    const samples = Number(values.samples);
    const generated = loadgenRequests({
      requests: Math.max(1, Math.ceil(samples / SAMPLES_PER_REQUEST)),
      samplesPerRequest: SAMPLES_PER_REQUEST,
      hosts: 20,
      seed: Number(values.seed),
    });
    const captured = await readRequestDir(AGENT_CORPUS);
    requests = [...generated, ...captured];
    console.log(`${generated.length} load-generator requests, ${captured.length} captured from the agent`);
  }
  const started = performance.now();
  const reference = await throughReference(requests, (line) => console.log(line));
  console.log(`reference collector done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const ours = await throughUniprof(requests);
  console.log(`uniprof collector done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values['save-dumps']) {
    const saved: SavedDumps = { reference: [...reference], ours: [...ours] };
    await writeFile(values['save-dumps'], JSON.stringify(saved));
  }
  report(compareDumps(reference, ours));
}

interface SavedDumps {
  reference: [string, DumpedDocument[]][];
  ours: [string, DumpedDocument[]][];
}

function report(result: ComparisonResult): void {
  for (const line of formatReport(result)) console.log(line);
  if (result.differences.some((d) => !d.explanation)) process.exitCode = 1;
}

await main();
