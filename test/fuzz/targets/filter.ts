/**
 * The query filter language (src/query/filter.ts) and what a parsed filter becomes: the embedded store's SQL
 * condition and the Elasticsearch query. Cases are filters drawn from the grammar (fields, aliases, quoting,
 * wildcards, and/or/not, nesting), those mutated character by character, deep nesting and random text. Only
 * FilterSyntaxError may be thrown; a parsed filter names known fields only and its SQL has one parameter per
 * placeholder.
 */
import fc from 'fast-check';
import { FIELD_ALIASES, FilterSyntaxError, parseFilter } from '../../../src/query/filter.ts';
import { filterToSql } from '../../../src/store/embedded/filter-sql.ts';
import { filterQuery } from '../../../src/store/elasticsearch/queries.ts';
import { EVENT_FIELDS, UnsupportedFilterError, type EventFilter } from '../../../src/store/store.ts';
import { mutatedBytes, type Seed } from '../support/mutate.ts';
import { expectOnly, FuzzViolation, type FuzzTarget } from '../support/target.ts';

const fieldName = fc.constantFrom(...EVENT_FIELDS, ...Object.keys(FIELD_ALIASES), 'HOST', 'nosuchfield', '');
const bareValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.*\-/#%\\']{1,12}$/),
  fc.constantFrom('web-*', '*', '**', 'and', 'or', 'not', '%', '_', "'; drop table x; --"),
);
const quotedValue = fc.string({ maxLength: 16 }).map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`);
const value = fc.oneof(bareValue, quotedValue);

const { filter } = fc.letrec<{ filter: string; term: string }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fieldName, value).map(([f, v]) => `${f}:${v}`),
    fc
      .tuple(fieldName, fc.array(value, { minLength: 1, maxLength: 4 }))
      .map(([f, vs]) => `${f}:(${vs.join(' or ')})`),
    tie('filter').map((f) => `(${f})`),
    tie('term').map((t) => `not ${t}`),
  ),
  filter: fc
    .tuple(
      tie('term'),
      fc.array(fc.tuple(fc.constantFrom(' and ', ' or ', ' ', ' AND ', ' Or '), tie('term')), {
        maxLength: 4,
      }),
    )
    .map(([first, rest]) => first + rest.map(([op, t]) => op + t).join('')),
}));

const deep = fc
  .tuple(fc.constantFrom('(', 'not ', '(not ', 'host:(', 'not ('), fc.integer({ min: 1, max: 50_000 }))
  .map(([open, depth]) => {
    const close = open.includes('(') ? ')' : '';
    return open.repeat(depth) + 'host:a' + close.repeat(depth);
  });

export function filterInputs(): fc.Arbitrary<Uint8Array> {
  const encoder = new TextEncoder();
  const samples = fc.sample(filter, { seed: 42, numRuns: 200 });
  const seeds: Seed[] = samples.map((text, i) => ({
    name: `filter ${i}`,
    bytes: encoder.encode(text),
    hotSpots: [],
  }));
  return fc.oneof(
    { weight: 4, arbitrary: filter.map((t) => encoder.encode(t)) },
    { weight: 3, arbitrary: mutatedBytes(seeds, { maxMutations: 4, hotWeight: 0 }) },
    { weight: 1, arbitrary: deep.map((t) => encoder.encode(t)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64, unit: 'binary' }).map((t) => encoder.encode(t)) },
  );
}

function checkParsed(parsed: EventFilter): void {
  const fields = new Set<string>(EVENT_FIELDS);
  const walk = (f: EventFilter): void => {
    if (f.kind === 'match') {
      if (!fields.has(f.field)) throw new FuzzViolation(`parsed an unknown field ${f.field}`);
    } else if (f.kind === 'not') walk(f.filter);
    else f.filters.forEach(walk);
  };
  walk(parsed);
  const sql = filterToSql(parsed);
  const placeholders = sql.sql.split('?').length - 1;
  if (placeholders !== sql.params.length) {
    throw new FuzzViolation(`SQL has ${placeholders} placeholders for ${sql.params.length} parameters`);
  }
  try {
    JSON.stringify(filterQuery(parsed));
  } catch (error) {
    // The one refusal the Elasticsearch translation may make: the API answers it with 400.
    if (!(error instanceof UnsupportedFilterError)) throw error;
  }
}

export function parseAndCompile(text: string): void {
  const parsed = parseFilter(text);
  if (parsed) checkParsed(parsed);
}

export const filterTarget: FuzzTarget = {
  name: 'filter',
  description: 'query filter parser, its SQL and Elasticsearch translations',
  caseBudgetMs: 1_000,
  async prepare() {
    const decoder = new TextDecoder();
    return {
      arbitrary: filterInputs(),
      run: (input) => expectOnly(() => parseAndCompile(decoder.decode(input)), [FilterSyntaxError]),
    };
  },
};
