import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FilterSyntaxError, parseFilter } from '../../src/query/index.ts';
import { fixtureStore } from './fixture.ts';
import { queryLayerSuite } from './suite.ts';

queryLayerSuite('the embedded store', async () => {
  const store = await fixtureStore();
  return { store, close: () => store.close() };
});

describe('filter parser', () => {
  it('parses precedence, lists, quotes and aliases', () => {
    assert.deepEqual(parseFilter('host:a or thread:"GC Thread" and not tag:(x or y*)'), {
      kind: 'or',
      filters: [
        { kind: 'match', field: 'host.name', pattern: 'a' },
        {
          kind: 'and',
          filters: [
            { kind: 'match', field: 'process.thread.name', pattern: 'GC Thread' },
            {
              kind: 'not',
              filter: {
                kind: 'or',
                filters: [
                  { kind: 'match', field: 'tags', pattern: 'x' },
                  { kind: 'match', field: 'tags', pattern: 'y*' },
                ],
              },
            },
          ],
        },
      ],
    });
    assert.equal(parseFilter('   '), undefined);
  });

  it('reports bad input with its position', () => {
    assert.throws(
      () => parseFilter('nosuch:1'),
      (e: unknown) => e instanceof FilterSyntaxError && e.position === 0,
    );
    assert.throws(() => parseFilter('host:"open'), /unterminated/);
    assert.throws(() => parseFilter('(host:a'), /expected "\)"/);
    assert.throws(() => parseFilter('host a'), /expected ":"/);
  });

  it('refuses nesting deeper than it can walk, with a syntax error (found by fuzzing)', () => {
    const deep = (open: string, close: string, depth: number) =>
      `${open.repeat(depth)}host:a${close.repeat(depth)}`;
    assert.ok(parseFilter(deep('(', ')', 64)));
    assert.ok(parseFilter(deep('not ', '', 64)));
    for (const filter of [deep('(', ')', 65), deep('not ', '', 65), deep('(not ', ')', 50_000)]) {
      assert.throws(
        () => parseFilter(filter),
        (e: unknown) => e instanceof FilterSyntaxError && /nested more than 64 levels/.test(e.message),
      );
    }
  });
});
