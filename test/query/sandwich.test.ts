/**
 * Sandwich and flamegraph actions on recursive stacks, over the real embedded store. Expectations come from a
 * naive reference written here over label paths (arrays and string keys, nothing from src/query), plus a few
 * numbers worked out by hand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import {
  FrameType,
  emptyBatch,
  frameId,
  stackTraceId,
  type FrameRef,
  type ProfileBatch,
} from '../../src/model/index.ts';
import { ProfilingQueries, type CompactFlamegraph } from '../../src/query/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { labelPaths } from './suite.ts';

const T0 = 1_700_000_000;
const RANGE = { from: T0, to: T0 + 60, samplingLevel: 0 };
const FILE = Buffer.alloc(16, 0x21).toString('base64url');
const NAMES = ['main', 'parse', 'eval', 'emit'] as const;
type Name = (typeof NAMES)[number];

/** Root-first stacks with their sample counts: `eval` recurses directly and through `parse`. */
const STACKS: { path: Name[]; count: number }[] = [
  { path: ['main', 'parse', 'eval', 'parse', 'eval', 'emit'], count: 3 },
  { path: ['main', 'eval'], count: 2 },
  { path: ['main', 'parse', 'eval', 'eval'], count: 4 },
  { path: ['main', 'emit'], count: 5 },
  { path: ['main', 'parse'], count: 7 },
];
const ALL = STACKS.reduce((sum, s) => sum + s.count, 0);

const PPROF = protobuf
  .loadSync(fileURLToPath(new URL('../../src/query/profile.proto', import.meta.url)))
  .lookupType('uniprof.pprof.Profile');

interface PprofProfile {
  sample: { locationId: number[]; value: number[] }[];
  location: { id: number; line: { functionId: number }[] }[];
  function: { id: number; name: number }[];
  stringTable: string[];
}

function ref(name: Name): FrameRef {
  return { fileId: FILE, addressOrLine: BigInt(0x1000 + NAMES.indexOf(name) * 0x100) };
}

function batch(): ProfileBatch {
  const out = emptyBatch();
  out.executables = [{ fileId: FILE, fileName: 'interp', lastSeen: T0 }];
  out.stackFrames = NAMES.map((name) => {
    const { fileId, addressOrLine } = ref(name);
    return {
      frameId: frameId(fileId, addressOrLine),
      functionNames: [name],
      fileNames: ['interp.c'],
      lineNumbers: [1],
      functionOffsets: [0],
    };
  });
  STACKS.forEach(({ path, count }, index) => {
    const leafFirst = path.map(ref).reverse();
    const id = stackTraceId(leafFirst);
    out.stackTraces.push({
      id,
      frameIds: leafFirst.map((f) => frameId(f.fileId, f.addressOrLine)),
      frameTypes: leafFirst.map(() => FrameType.Native),
    });
    out.events.push({
      timestamp: T0 + index,
      stackTraceId: id,
      count,
      hostId: 'h',
      hostName: 'h',
      threadName: 't',
      processName: 'interp',
      tags: [],
      projectId: 1,
    });
  });
  out.hosts = [{ hostId: 'h', hostName: 'h', timestamp: T0, arch: 'amd64', projectId: 1, attributes: {} }];
  return out;
}

/** The reference: a tree of label paths → [total, self] from root-first paths. */
function referenceTree(paths: { path: string[]; count: number }[]): Map<string, [number, number]> {
  const tree = new Map<string, [number, number]>();
  for (const { path, count } of paths) {
    for (let i = 0; i < path.length; i++) {
      const key = path.slice(0, i + 1).join(' > ');
      const node = tree.get(key) ?? [0, 0];
      node[0] += count;
      if (i === path.length - 1) node[1] += count;
      tree.set(key, node);
    }
  }
  return tree;
}

function rootTotal(graph: CompactFlamegraph): number {
  return graph.nodes.total[0];
}

describe('sandwich and flamegraph actions on recursive stacks', () => {
  let store: EmbeddedStore;
  let queries: ProfilingQueries;
  const keys = new Map<string, string>();

  before(async () => {
    store = new EmbeddedStore({ path: ':memory:', seed: 5 });
    await store.open();
    await store.write(batch());
    queries = new ProfilingQueries(store);
    for (const f of (await queries.topN(RANGE, 100)).topn) keys.set(f.label, f.id);
  });
  after(() => store?.close());

  it('counts a recursive function once per stack: callees from its outermost call, callers from its innermost', async () => {
    const view = await queries.sandwich(RANGE, keys.get('eval')!);
    // Stacks containing eval: 3 + 2 + 4; eval is the leaf in the second and third.
    assert.equal(view.total, 9);
    assert.equal(view.self, 2 + 4);
    assert.equal(rootTotal(view.callers), 9);
    assert.equal(rootTotal(view.callees), 9);
    const callees = STACKS.filter((s) => s.path.includes('eval')).map(({ path, count }) => ({
      path: path.slice(path.indexOf('eval')),
      count,
    }));
    const callers = STACKS.filter((s) => s.path.includes('eval')).map(({ path, count }) => ({
      path: path.slice(0, path.lastIndexOf('eval') + 1).reverse(),
      count,
    }));
    assert.deepEqual(labelPaths(view.callees), referenceTree(callees));
    assert.deepEqual(labelPaths(view.callers), referenceTree(callers));
    // By hand: under eval, the recursive calls (eval > parse > eval, eval > eval) are in the callees …
    assert.deepEqual(labelPaths(view.callees).get('eval > parse > eval > emit'), [3, 3]);
    assert.deepEqual(labelPaths(view.callees).get('eval > eval'), [4, 4]);
    // … and the callers reach main through the recursion: eval ← parse ← eval ← parse ← main.
    assert.deepEqual(labelPaths(view.callers).get('eval > parse > eval > parse > main'), [3, 3]);
    assert.deepEqual(labelPaths(view.callers).get('eval > eval > parse > main'), [4, 4]);
    assert.deepEqual(labelPaths(view.callers).get('eval > main'), [2, 2]);
  });

  it('focus keeps stacks through the function from its outermost call; the root is its total', async () => {
    const graph = await queries.flamegraph(RANGE, undefined, { focus: keys.get('parse') });
    const through = STACKS.filter((s) => s.path.includes('parse'));
    assert.equal(
      rootTotal(graph),
      through.reduce((sum, s) => sum + s.count, 0),
    );
    assert.equal(
      rootTotal(graph),
      (await queries.topN(RANGE, 100)).topn.find((f) => f.label === 'parse')!.total_count,
    );
    assert.deepEqual(
      labelPaths(graph),
      referenceTree(through.map(({ path, count }) => ({ path: path.slice(path.indexOf('parse')), count }))),
    );
  });

  it('hide removes every occurrence, collapse cuts below the first, invert reverses; the root keeps every sample', async () => {
    const hidden = await queries.flamegraph(RANGE, undefined, { hide: [keys.get('eval')!] });
    assert.equal(rootTotal(hidden), ALL);
    assert.deepEqual(
      labelPaths(hidden),
      referenceTree(STACKS.map(({ path, count }) => ({ path: path.filter((n) => n !== 'eval'), count }))),
    );
    // Both given as one comma-separated value.
    const twoHidden = await queries.flamegraph(RANGE, undefined, {
      hide: [`${keys.get('eval')!},${keys.get('parse')!}`],
    });
    assert.equal(rootTotal(twoHidden), ALL);
    assert.deepEqual(
      labelPaths(twoHidden),
      new Map([
        ['main', [ALL, 2 + 4 + 7]],
        ['main > emit', [8, 8]],
      ]),
    );

    const collapsed = await queries.flamegraph(RANGE, undefined, { collapse: [keys.get('parse')!] });
    assert.equal(rootTotal(collapsed), ALL);
    assert.deepEqual(labelPaths(collapsed).get('main > parse'), [14, 14]);
    assert.deepEqual(
      labelPaths(collapsed),
      referenceTree(
        STACKS.map(({ path, count }) => ({
          path: path.includes('parse') ? path.slice(0, path.indexOf('parse') + 1) : path,
          count,
        })),
      ),
    );

    const inverted = await queries.flamegraph(RANGE, undefined, { invert: true });
    assert.equal(rootTotal(inverted), ALL);
    assert.deepEqual(
      labelPaths(inverted),
      referenceTree(STACKS.map(({ path, count }) => ({ path: [...path].reverse(), count }))),
    );
    // Leaves first: emit is the leaf of 3 + 5 samples.
    assert.deepEqual(labelPaths(inverted).get('emit'), [8, 0]);

    // Actions compose: focus on parse, hide eval, inverted.
    const combined = await queries.flamegraph(RANGE, undefined, {
      focus: keys.get('parse'),
      hide: [keys.get('eval')!],
      invert: true,
    });
    assert.equal(rootTotal(combined), 14);
    assert.deepEqual(
      labelPaths(combined),
      referenceTree(
        STACKS.filter((s) => s.path.includes('parse')).map(({ path, count }) => ({
          path: path
            .slice(path.indexOf('parse'))
            .filter((n) => n !== 'eval')
            .reverse(),
          count,
        })),
      ),
    );
  });

  it('gives the pprof export the same transformed stacks', async () => {
    const stacksOf = (body: Buffer) => {
      const profile = PPROF.toObject(PPROF.decode(gunzipSync(body)), { longs: Number }) as PprofProfile;
      const names = new Map(profile.function.map((f) => [f.id, profile.stringTable[f.name]]));
      const locations = new Map(profile.location.map((l) => [l.id, names.get(l.line[0].functionId)!]));
      // pprof lists a sample's locations leaf first.
      return profile.sample
        .map((sample) => ({
          path: sample.locationId.map((id) => locations.get(id)!).reverse(),
          count: sample.value[0],
        }))
        .sort((a, b) => a.path.join().localeCompare(b.path.join()));
    };
    const sorted = (stacks: { path: string[]; count: number }[]) =>
      [...stacks].sort((a, b) => a.path.join().localeCompare(b.path.join()));
    assert.deepEqual(stacksOf(await queries.pprof(RANGE)), sorted(STACKS));
    assert.deepEqual(
      stacksOf(await queries.pprof(RANGE, undefined, { invert: true, hide: [keys.get('main')!] })),
      sorted(STACKS.map(({ path, count }) => ({ path: path.filter((n) => n !== 'main').reverse(), count }))),
    );
    assert.deepEqual(
      stacksOf(await queries.pprof(RANGE, undefined, { focus: keys.get('emit') })),
      sorted([
        { path: ['emit'], count: 3 },
        { path: ['emit'], count: 5 },
      ]),
    );
  });
});
