import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProfilingQueries } from '../../src/query/index.ts';
import type { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { EVENTS, LABELS, STACKS, T0, fixtureStore } from './fixture.ts';

function goAvailable(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasGo = goAvailable();
if (!hasGo && process.env.CI === 'true') {
  throw new Error('go is not on PATH: the pprof export test needs `go tool pprof` (install Go)');
}

describe('pprof export', { skip: hasGo ? false : 'go is not installed (needed for `go tool pprof`)' }, () => {
  let store: EmbeddedStore;
  let dir: string;
  before(async () => {
    store = await fixtureStore();
    dir = mkdtempSync(join(tmpdir(), 'uniprof-pprof-'));
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a gzip profile.proto that go tool pprof reads with the right flat and cumulative counts', async () => {
    const range = { from: T0, to: T0 + 120, samplingLevel: 0 };
    const file = join(dir, 'profile.pb.gz');
    writeFileSync(file, await new ProfilingQueries(store).pprof(range));
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=samples', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const rows = new Map<string, { flat: number; cum: number }>();
    for (const line of top.split('\n')) {
      const match = /^\s*(\d+)\s+\S+%\s+\S+%\s+(\d+)\s+\S+%\s+(.+)$/.exec(line);
      if (match) rows.set(match[3].trim(), { flat: Number(match[1]), cum: Number(match[2]) });
    }
    const count = (...ids: string[]) =>
      EVENTS.filter((e) => ids.includes(e.stackTraceId) && e.timestamp < range.to).reduce(
        (s, e) => s + e.count,
        0,
      );
    assert.deepEqual(rows.get(LABELS.request), {
      flat: count(STACKS.s2.id),
      cum: count(STACKS.s1.id, STACKS.s2.id),
    });
    assert.deepEqual(rows.get(LABELS.main), {
      flat: 0,
      cum: count(STACKS.s1.id, STACKS.s2.id, STACKS.s3.id),
    });
    assert.deepEqual(rows.get(LABELS.libc), {
      flat: count(STACKS.s1.id),
      cum: count(STACKS.s1.id, STACKS.s3.id),
    });
    assert.deepEqual(rows.get(`${LABELS.inlined} (inline)`), { flat: 0, cum: count(STACKS.s1.id) });
    assert.match(top, /Duration: 2mins?|Duration: 120s/);
  });
});
