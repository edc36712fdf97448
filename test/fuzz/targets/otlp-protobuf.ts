/**
 * The OTLP protobuf decoder as the receivers use it: the columnar view of a binary ExportProfilesServiceRequest
 * (both wire revisions), then translation into the model. Bad bytes must end in InvalidRequestError.
 */
import fc from 'fast-check';
import { InvalidRequestError } from '../../../src/protocol/errors.ts';
import { decodeExportRequestView, encodeExportRequest } from '../../../src/protocol/otlp-profiles.ts';
import { mutatedBytes } from '../support/mutate.ts';
import { caseTranslator, generatedRequest, otlpSeeds } from '../support/otlp-seeds.ts';
import { expectOnly, type FuzzTarget } from '../support/target.ts';

/**
 * A request whose resource carries one attribute nested `depth` array values deep. Built in one pass (the
 * lengths inside out, then the bytes outside in): nesting by concatenation would copy quadratically.
 */
export function deeplyNestedRequest(depth: number): Uint8Array {
  const varintLength = (n: number) =>
    n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
  // Innermost: AnyValue { string_value: "" }. Each level: AnyValue.array_value (5) { ArrayValue.values (1) }.
  const arrayLengths = new Array<number>(depth);
  const valueLengths = new Array<number>(depth + 1);
  valueLengths[0] = 2;
  for (let i = 0; i < depth; i++) {
    const inner = valueLengths[i];
    arrayLengths[i] = 1 + varintLength(inner) + inner;
    valueLengths[i + 1] = 1 + varintLength(arrayLengths[i]) + arrayLengths[i];
  }
  const value = valueLengths[depth];
  const keyValue = 4 + varintLength(value) + value;
  const resource = 1 + varintLength(keyValue) + keyValue;
  const resourceProfiles = 1 + varintLength(resource) + resource;
  const out = new Uint8Array(1 + varintLength(resourceProfiles) + resourceProfiles);
  let at = 0;
  const byte = (b: number) => (out[at++] = b);
  const varint = (n: number) => {
    for (; n >= 0x80; n = Math.floor(n / 128)) byte((n & 0x7f) | 0x80);
    byte(n);
  };
  byte(0x0a);
  varint(resourceProfiles);
  byte(0x0a);
  varint(resource);
  byte(0x0a);
  varint(keyValue);
  [0x0a, 0x01, 0x6b, 0x12].forEach(byte);
  varint(value);
  for (let i = depth - 1; i >= 0; i--) {
    byte(0x2a);
    varint(arrayLengths[i]);
    byte(0x0a);
    varint(valueLengths[i]);
  }
  byte(0x0a);
  byte(0x00);
  return out;
}

export function otlpProtobufInputs(): fc.Arbitrary<Uint8Array> {
  const seeds = otlpSeeds();
  return fc.oneof(
    { weight: 6, arbitrary: mutatedBytes(seeds) },
    { weight: 2, arbitrary: generatedRequest.map((request) => encodeExportRequest(request)) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 50_000 }).map(deeplyNestedRequest) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  );
}

export const otlpProtobufTarget: FuzzTarget = {
  name: 'otlp-protobuf',
  description: 'OTLP protobuf decoder (columnar view, both wire revisions) and translation',
  caseBudgetMs: 2_000,
  async prepare() {
    const translator = caseTranslator();
    return {
      arbitrary: otlpProtobufInputs(),
      run: (input) =>
        expectOnly(() => void translator.translate(decodeExportRequestView(input)), [InvalidRequestError]),
    };
  },
};
