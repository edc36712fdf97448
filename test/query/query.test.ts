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
});
