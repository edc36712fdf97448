/** Every fuzz target, by name. */
import { filterTarget } from './filter.ts';
import { harnessTargets } from './harness.ts';
import { otlpJsonTarget } from './otlp-json.ts';
import { otlpProtobufTarget } from './otlp-protobuf.ts';
import { otlpReceiversTarget, symbolUploadTarget } from './servers.ts';
import { dwarfTarget, elfTarget, pclntabTarget } from './symbolizer.ts';
import type { FuzzTarget } from '../support/target.ts';

export const TARGETS: readonly FuzzTarget[] = [
  otlpProtobufTarget,
  otlpJsonTarget,
  filterTarget,
  elfTarget,
  dwarfTarget,
  pclntabTarget,
  symbolUploadTarget,
  otlpReceiversTarget,
];

export function targetByName(name: string): FuzzTarget {
  const target = [...TARGETS, ...harnessTargets].find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target "${name}" (known: ${TARGETS.map((t) => t.name).join(', ')})`);
  return target;
}
