/**
 * Uniprof's Elasticsearch documents against the reference (the OpenTelemetry Collector's Elasticsearch
 * exporter): the same requests through both, each into a fresh cluster, every document compared (see
 * scripts/compat-es/). A smaller input than `npm run compat:es`: load-generator requests and the requests
 * captured from the real agent. Fails on any difference docs/elasticsearch.md does not explain.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  compareDumps,
  formatReport,
  levelTotalWithinBounds,
  type ComparisonResult,
} from '../../scripts/compat-es/compare.ts';
import { flatten, logicalIndexName, type Dump } from '../../scripts/compat-es/dump.ts';
import {
  loadgenRequests,
  readRequestDir,
  throughReference,
  throughUniprof,
} from '../../scripts/compat-es/run.ts';
import { AgentUnavailableError } from '../peers/agent.ts';

const CI = process.env.CI === 'true';
const AGENT_CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fuzz/corpus');

const unexplained = (result: ComparisonResult) => result.differences.filter((d) => !d.explanation);
const count = (result: ComparisonResult, index: string) => result.counts.find((c) => c.index === index);

test('the comparison: nested and dotted fields are equal, changed or missing documents are differences', () => {
  assert.equal(logicalIndexName('.ds-profiling-events-5pow02-2026.11.28-000001'), 'profiling-events-5pow02');
  assert.equal(logicalIndexName('.profiling-stacktraces-v001-000001'), 'profiling-stacktraces');
  assert.equal(logicalIndexName('.profiling-sq-leafframes-v001'), 'profiling-sq-leafframes');
  assert.deepEqual(flatten({ Stacktrace: { frame: { ids: 'x' } }, 'ecs.version': '1', a: ['y'] }), {
    'Stacktrace.frame.ids': 'x',
    'ecs.version': '1',
    a: 'y',
  });

  const trace = (id: string, source: Record<string, unknown>) => ({ id, source: flatten(source) });
  const reference: Dump = new Map([
    [
      'profiling-stacktraces',
      [
        trace('a', { 'Stacktrace.frame.ids': 'AA', 'Stacktrace.frame.types': 'Ag', 'ecs.version': '1.12.0' }),
        trace('b', { 'Stacktrace.frame.ids': 'BB', 'Stacktrace.frame.types': 'Ag', 'ecs.version': '1.12.0' }),
      ],
    ],
  ]);
  const same: Dump = new Map([
    [
      'profiling-stacktraces',
      [
        trace('a', { Stacktrace: { frame: { ids: 'AA', types: 'Ag' } }, ecs: { version: '1.12.0' } }),
        trace('b', { 'Stacktrace.frame.ids': 'BB', 'Stacktrace.frame.types': 'Ag', 'ecs.version': '1.12.0' }),
      ],
    ],
  ]);
  assert.deepEqual(compareDumps(reference, same).differences, []);

  const changed: Dump = new Map([
    [
      'profiling-stacktraces',
      [trace('a', { 'Stacktrace.frame.ids': 'AB', 'Stacktrace.frame.types': 'Ag', 'ecs.version': '1.12.0' })],
    ],
  ]);
  const result = compareDumps(reference, changed);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.id, d.field, d.explanation]),
    [
      ['value', 'a', 'Stacktrace.frame.ids', undefined],
      ['only-in-reference', 'b', undefined, undefined],
    ],
  );
  assert.equal(
    formatReport(result).at(-1),
    'compared 3 documents, 2 differences (0 explained)',
    'the last line counts documents read on both sides and differences',
  );

  // Level totals: Binomial(T, 5^-N) within 5 standard deviations.
  assert.ok(levelTotalWithinBounds(1, 10_000, 2_000));
  assert.ok(levelTotalWithinBounds(1, 10_000, 2_150));
  assert.ok(!levelTotalWithinBounds(1, 10_000, 2_300));
  assert.ok(!levelTotalWithinBounds(2, 10_000, 0));
});

test('Uniprof writes the documents the reference exporter writes for the same requests (or the difference is explained)', async (t) => {
  const requests = [
    ...loadgenRequests({ requests: 2, samplesPerRequest: 400, hosts: 4, seed: 11 }),
    ...(await readRequestDir(AGENT_CORPUS)),
  ];
  let reference: Dump;
  try {
    reference = await throughReference(requests, (line) => t.diagnostic(line));
  } catch (error) {
    if (CI || !(error instanceof AgentUnavailableError)) throw error;
    t.skip(error.message);
    return;
  }
  // The collector records what it acknowledged (--record-dir): the same bodies, in order, so a recording
  // can be compared again with `npm run compat:es -- --requests DIR`.
  const recordDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-compat-record-'));
  t.after(() => rm(recordDir, { recursive: true, force: true }));
  const ours = await throughUniprof(requests, { recordDir });
  const base64 = (bodies: readonly Uint8Array[]) => bodies.map((b) => Buffer.from(b).toString('base64'));
  assert.deepEqual(base64(await readRequestDir(recordDir)), base64(requests));
  const result = compareDumps(reference, ours);
  for (const line of formatReport(result, 1)) t.diagnostic(line);

  assert.deepEqual(
    unexplained(result).map(
      (d) => `${d.index} ${d.kind} ${d.field ?? ''} ${d.id ?? ''}: ${d.detail.slice(0, 200)}`,
    ),
    [],
  );
  // The comparison compared something: the same stack traces and frames on both sides, every sample once.
  for (const index of ['profiling-stacktraces', 'profiling-stackframes']) {
    const counts = count(result, index);
    assert.ok(counts && counts.reference > 0, `${index}: nothing written`);
    assert.equal(counts.ours, counts.reference, index);
  }
  const samples = (dump: Dump) =>
    (dump.get('profiling-events-all') ?? []).reduce(
      (sum, d) => sum + Number(d.source['Stacktrace.count']),
      0,
    );
  assert.ok(samples(reference) >= 800);
  assert.equal(samples(ours), samples(reference));
});
