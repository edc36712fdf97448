import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { fileIdToHex } from '../model/index.ts';
import type { FrameGroup } from './frames.ts';
import type { QueryResult } from './run.ts';

const profileType = protobuf
  .loadSync(fileURLToPath(new URL('./profile.proto', import.meta.url)))
  .lookupType('uniprof.pprof.Profile');

class StringTable {
  readonly strings: string[] = [''];
  private readonly index = new Map<string, number>([['', 0]]);

  id(text: string): number {
    let found = this.index.get(text);
    if (found === undefined) {
      found = this.strings.length;
      this.strings.push(text);
      this.index.set(text, found);
    }
    return found;
  }
}

interface PprofLocation {
  id: number;
  mappingId: number;
  address: number;
  line: { functionId: number; line: number }[];
}

/** Builds pprof's tables from frame groups; a location is one real frame with its inline chain. */
class ProfileBuilder {
  readonly strings = new StringTable();
  readonly functions: { id: number; name: number; systemName: number; filename: number }[] = [];
  readonly mappings: { id: number; filename: number; buildId: number; hasFunctions: boolean }[] = [];
  readonly locations: PprofLocation[] = [];
  private readonly functionIds = new Map<number, number>();
  private readonly mappingIds = new Map<string, number>();
  private readonly locationIds = new Map<string, number>();

  constructor(private readonly groups: readonly FrameGroup[]) {}

  private functionId(groupId: number): number {
    let id = this.functionIds.get(groupId);
    if (id === undefined) {
      const group = this.groups[groupId];
      id = this.functions.length + 1;
      const name = this.strings.id(group.label);
      this.functions.push({ id, name, systemName: name, filename: this.strings.id(group.sourceFile) });
      this.functionIds.set(groupId, id);
    }
    return id;
  }

  private mappingId(group: FrameGroup): number {
    const key = group.fileId;
    let id = this.mappingIds.get(key);
    if (id === undefined) {
      id = this.mappings.length + 1;
      const buildId = group.fileId ? safeHex(group.fileId) : '';
      this.mappings.push({
        id,
        filename: this.strings.id(group.executable || (group.fileId ? `file ${group.fileId}` : 'unknown')),
        buildId: this.strings.id(buildId),
        hasFunctions: true,
      });
      this.mappingIds.set(key, id);
    }
    return id;
  }

  /** `chain` is one frame's groups, outermost first (the order stacks are expanded in). */
  locationId(chain: readonly number[]): number {
    const key = chain.join(',');
    let id = this.locationIds.get(key);
    if (id === undefined) {
      const outer = this.groups[chain[0]];
      id = this.locations.length + 1;
      this.locations.push({
        id,
        mappingId: this.mappingId(outer),
        address: outer.addressOrLine,
        // pprof lists the innermost function first.
        line: chain
          .slice()
          .reverse()
          .map((g) => ({ functionId: this.functionId(g), line: this.groups[g].sourceLine })),
      });
      this.locationIds.set(key, id);
    }
    return id;
  }
}

function safeHex(fileId: string): string {
  try {
    return fileIdToHex(fileId);
  } catch {
    return fileId;
  }
}

/** Splits an expanded stack (root first) into frames: an inline entry joins the frame before it. */
function frameChains(stack: Int32Array, groups: readonly FrameGroup[]): number[][] {
  const chains: number[][] = [];
  for (let i = 0; i < stack.length; i++) {
    const groupId = stack[i];
    const last = chains[chains.length - 1];
    if (groups[groupId].inline && last) last.push(groupId);
    else chains.push([groupId]);
  }
  return chains;
}

/** A gzip'd pprof `profile.proto` of a query: sample counts and CPU nanoseconds per stack. */
export function toPprof(result: QueryResult, samplingFrequencyHz: number): Buffer {
  const groups = result.expanded.table.groups;
  const builder = new ProfileBuilder(groups);
  const strings = builder.strings;
  const periodNanos = Math.round(1e9 / samplingFrequencyHz);
  const samples: { locationId: number[]; value: number[]; label: { key: number; str: number }[] }[] = [];
  const groupKey = strings.id('group');
  for (const row of result.rows) {
    const stack = result.expanded.stacks.get(row.stackTraceId);
    if (!stack) continue;
    const locationIds = frameChains(stack, groups).map((chain) => builder.locationId(chain));
    locationIds.reverse();
    samples.push({
      locationId: locationIds,
      value: [row.count, row.count * periodNanos],
      label: row.group !== undefined ? [{ key: groupKey, str: strings.id(row.group) }] : [],
    });
  }
  const message = profileType.fromObject({
    sampleType: [
      { type: strings.id('samples'), unit: strings.id('count') },
      { type: strings.id('cpu'), unit: strings.id('nanoseconds') },
    ],
    sample: samples,
    mapping: builder.mappings,
    location: builder.locations,
    function: builder.functions,
    timeNanos: result.from * 1e9,
    durationNanos: result.durationSeconds * 1e9,
    periodType: { type: strings.id('cpu'), unit: strings.id('nanoseconds') },
    period: periodNanos,
    comment: [
      strings.id(
        `uniprof export: sampling level ${result.sampling.samplingLevel}, counts scaled by ${result.sampling.scale}`,
      ),
    ],
    defaultSampleType: strings.id('cpu'),
    stringTable: strings.strings,
  });
  return gzipSync(profileType.encode(message).finish());
}
