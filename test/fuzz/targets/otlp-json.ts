/**
 * The OTLP/JSON decoder as the HTTP receiver uses it: JSON.parse, the schema-checked conversion, then
 * translation. Seeds are the captured agent requests in OTLP/JSON form; cases edit their JSON tree (a value
 * replaced by one of another type, an edge number, deep nesting) and then, sometimes, their text.
 */
import fc from 'fast-check';
import { InvalidRequestError } from '../../../src/protocol/errors.ts';
import { decodeExportRequestJson } from '../../../src/protocol/otlp-profiles.ts';
import { mutatedBytes, type Seed } from '../support/mutate.ts';
import { caseTranslator, otlpJsonSeeds, otlpSeeds } from '../support/otlp-seeds.ts';
import { expectOnly, FuzzViolation, type FuzzTarget } from '../support/target.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Paths to every value of a tree (the first few elements of each array), capped. */
function paths(tree: Json, limit = 5_000): Path[] {
  const out: Path[] = [];
  const walk = (node: Json, path: Path) => {
    if (out.length >= limit) return;
    out.push(path);
    if (Array.isArray(node)) node.slice(0, 3).forEach((child, i) => walk(child, [...path, i]));
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
  };
  walk(tree, []);
  return out;
}

function replaced(tree: Json, path: Path, value: Json): Json {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (Array.isArray(tree)) return tree.map((child, i) => (i === head ? replaced(child, rest, value) : child));
  if (tree && typeof tree === 'object')
    return { ...tree, [head]: replaced(tree[head as string], rest, value) };
  return tree;
}

/** `{"arrayValue":{"values":[ ... ]}}` nested `depth` times, as an attribute value. */
export function deeplyNestedJson(depth: number): string {
  const value = '{"arrayValue":{"values":['.repeat(depth) + '{"stringValue":"x"}' + ']}}'.repeat(depth);
  return `{"resourceProfiles":[{"resource":{"attributes":[{"key":"k","value":${value}}]}}]}`;
}

const edgeJson: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    '18446744073709551616',
    '-9223372036854775809',
    '4294967296',
    '-1',
    1e308,
    -0,
    '',
    'NaN',
    '_-_-',
    'ffffffffffffffffffffffffffffffff',
    [],
    {},
    null,
    true,
  ),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

export function otlpJsonInputs(): fc.Arbitrary<Uint8Array> {
  const texts = otlpJsonSeeds(otlpSeeds());
  const trees = texts.map((t) => JSON.parse(t) as Json);
  const treePaths = trees.map((t) => paths(t));
  const encoder = new TextEncoder();
  const edited = fc
    .record({
      seed: fc.nat(trees.length - 1),
      edits: fc.array(fc.record({ path: fc.nat(), value: edgeJson }), { minLength: 1, maxLength: 4 }),
    })
    .map(({ seed, edits }) => {
      let tree = trees[seed];
      for (const edit of edits) {
        const list = treePaths[seed];
        tree = replaced(tree, list[edit.path % list.length], edit.value);
      }
      return encoder.encode(JSON.stringify(tree));
    });
  const textSeeds: Seed[] = texts.map((t, i) => ({
    name: `json ${i}`,
    bytes: encoder.encode(t),
    hotSpots: [],
  }));
  return fc.oneof(
    { weight: 6, arbitrary: edited },
    { weight: 2, arbitrary: mutatedBytes(textSeeds, { maxMutations: 3, hotWeight: 0 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 30_000 }).map((d) => encoder.encode(deeplyNestedJson(d))),
    },
  );
}

const translator = caseTranslator();

/** What the receiver does with a body (src/collector/ingest.ts): a JSON syntax error is a bad_json rejection. */
export function decodeJsonBody(input: Uint8Array): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(input).toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw new InvalidRequestError('bad_json', error.message);
    throw new FuzzViolation(`JSON.parse threw ${String(error)}`);
  }
  translator.translate(decodeExportRequestJson(parsed));
}

export const otlpJsonTarget: FuzzTarget = {
  name: 'otlp-json',
  description: 'OTLP/JSON decoder (schema-checked conversion) and translation',
  caseBudgetMs: 2_000,
  async prepare() {
    return {
      arbitrary: otlpJsonInputs(),
      run: (input) => expectOnly(() => decodeJsonBody(input), [InvalidRequestError]),
    };
  },
};
