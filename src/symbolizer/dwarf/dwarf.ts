import { formatError } from '../errors.ts';
import { ByteReader } from '../reader.ts';
import { FunctionIndex, readNameAttributes, type NameAttributes } from './functions.ts';
import { LineTable } from './line.ts';
import { lastAtOrBelow, RangeIndex } from './search.ts';
import type { DwarfSections } from './sections.ts';
import { AbbrevCache, pushRange, Unit } from './unit.ts';

/** Finds and reads a .dwo file's sections (names without the `.dwo` suffix); undefined if not found. */
export type DwoLoader = (dwoName: string, compDir: string) => DwarfSections | undefined;

/** One frame of an inline chain as DWARF describes it. */
export interface DwarfFrame {
  /** Linkage (mangled) name when known, else the plain name; '' when unknown. */
  functionName: string;
  fileName: string;
  line: number;
  /** DW_AT_decl_line of the function, 0 when unknown. */
  startLine: number;
}

const MAX_ORIGIN_HOPS = 16;
const MAX_UNITS = 1 << 22;

/**
 * Symbolization over one file's DWARF: units are listed on open (header + root DIE only); each compilation
 * unit's line table and function index are built the first time an address falls into it.
 */
export class DwarfContext {
  private readonly sections: DwarfSections;
  private readonly units: Unit[] = [];
  private readonly unitOffsets: Float64Array;
  private readonly unitRanges: RangeIndex;
  private readonly lineTables = new Map<number, LineTable | null>();
  private readonly functionIndexes = new Map<number, FunctionIndex | null>();
  private readonly names = new Map<number, { name: string; declLine: number }>();
  /** Decoded name attributes by DIE offset (see `nameAttributesAt`); dropped with each released unit. */
  private readonly nameAttributes = new Map<number, NameAttributes>();
  /** Per-unit failures, reported once: a broken unit must not hide the others. */
  readonly unitErrors: string[] = [];

  /** The supplementary (dwz) file's DWARF, for DIEs referenced with DW_FORM_GNU_ref_alt. */
  alt: DwarfContext | undefined;
  /** Opens the sections of a skeleton unit's .dwo file (split DWARF); absent when it cannot be found. */
  private readonly loadDwo: DwoLoader | undefined;
  private readonly dwoContexts = new Map<number, DwarfContext | null>();

  constructor(
    sections: DwarfSections,
    loadDwo?: DwoLoader,
    inherited?: { addrBase: number; lowPc: number; gnuRangesBase: number },
    namesOnly = false,
  ) {
    this.sections = sections;
    this.loadDwo = loadDwo;
    const abbrevCache = new AbbrevCache();
    let offset = 0;
    const infoLength = sections.infoWindows ? sections.infoWindows.size : sections.info.length;
    while (offset < infoLength) {
      if (this.units.length >= MAX_UNITS) throw formatError('too many units in .debug_info', offset);
      const unit = new Unit(sections, offset);
      unit.load(abbrevCache, inherited);
      this.units.push(unit);
      offset = unit.end;
    }
    this.unitOffsets = Float64Array.from(this.units, (u) => u.offset);
    // A supplementary file only lends DIEs (names) to others: it has no code of its own to index.
    this.unitRanges = namesOnly ? new RangeIndex([]) : this.buildUnitRanges();
  }

  /** Problems met so far in damaged units, including those of split (.dwo) units. */
  errors(): string[] {
    const out = [...this.unitErrors];
    for (const context of this.dwoContexts.values()) if (context) out.push(...context.errors());
    return out;
  }

  get unitCount(): number {
    return this.units.length;
  }

  private buildUnitRanges(): RangeIndex {
    // Columns rather than an object per range: sorting thousands of small objects whose fields change
    // representation (small and large addresses) was the slowest part of opening glibc.
    const lows: number[] = [];
    const highs: number[] = [];
    const payloads: number[] = [];
    const arangesByUnit = this.readAranges();
    for (let index = 0; index < this.units.length; index++) {
      const unit = this.units[index];
      if (!unit.isCompileUnit) continue;
      let ranges = unit.rootRangeList();
      if (ranges === undefined || ranges.length === 0) ranges = arangesByUnit.get(unit.offset);
      if (ranges === undefined) {
        // No ranges anywhere: index the unit now to learn them from its functions.
        ranges = this.functionIndex(index)?.subprogramRanges() ?? [];
      }
      for (const [low, high] of ranges) {
        lows.push(low);
        highs.push(high);
        payloads.push(index);
      }
    }
    return RangeIndex.fromColumns(lows, highs, payloads);
  }

  private readAranges(): Map<number, [number, number][]> {
    const byUnit = new Map<number, [number, number][]>();
    const data = this.sections.aranges;
    const r = new ByteReader(data, this.sections.littleEndian);
    try {
      while (r.remaining > 0) {
        let length = r.u32();
        let offsetSize = 4;
        if (length === 0xffffffff) {
          length = r.u64();
          offsetSize = 8;
        }
        const end = r.offset + length;
        r.u16(); // version
        const unitOffset = r.uint(offsetSize);
        const addressSize = r.u8();
        r.u8(); // segment selector size
        const tupleSize = addressSize * 2;
        // Tuples start at a multiple of their size from the set's start.
        const setStart = end - length - (offsetSize === 8 ? 12 : 4);
        const misalign = (r.offset - setStart) % tupleSize;
        if (misalign) r.skip(tupleSize - misalign);
        const list = byUnit.get(unitOffset) ?? [];
        while (r.offset + tupleSize <= end) {
          const address = r.uint(addressSize);
          const size = r.uint(addressSize);
          if (address === 0 && size === 0) break;
          pushRange(list, address, address + size);
        }
        byUnit.set(unitOffset, list);
        r.seek(end);
      }
    } catch {
      // A damaged .debug_aranges is only an accelerator: fall back to the units' own ranges.
    }
    return byUnit;
  }

  private lineTable(unitIndex: number): LineTable | undefined {
    let table = this.lineTables.get(unitIndex);
    if (table === undefined) {
      const unit = this.units[unitIndex];
      table = null;
      if (unit.stmtList >= 0) {
        try {
          table = new LineTable(unit, unit.stmtList, unit.compDir);
        } catch (error) {
          this.unitErrors.push(
            `line table of unit at 0x${unit.offset.toString(16)}: ${(error as Error).message}`,
          );
        }
      }
      this.lineTables.set(unitIndex, table);
    }
    return table ?? undefined;
  }

  private functionIndex(unitIndex: number): FunctionIndex | undefined {
    let index = this.functionIndexes.get(unitIndex);
    if (index === undefined) {
      const unit = this.units[unitIndex];
      try {
        index = new FunctionIndex(unit);
      } catch (error) {
        index = null;
        this.unitErrors.push(
          `functions of unit at 0x${unit.offset.toString(16)}: ${(error as Error).message}`,
        );
      }
      this.functionIndexes.set(unitIndex, index);
    }
    return index ?? undefined;
  }

  /** The split-DWARF context holding the functions of a skeleton unit, if its .dwo file can be read. */
  private dwoContext(unitIndex: number): DwarfContext | undefined {
    let context = this.dwoContexts.get(unitIndex);
    if (context === undefined) {
      context = null;
      const unit = this.units[unitIndex];
      try {
        const dwo = this.loadDwo?.(unit.dwoName, unit.compDir);
        // Split units take addresses from the main file's .debug_addr through the skeleton's base.
        // DWARF 4 (GNU) split units also keep their range lists in the main file's .debug_ranges.
        if (dwo) {
          const ranges = dwo.ranges.length > 0 ? dwo.ranges : this.sections.ranges;
          context = new DwarfContext({ ...dwo, addr: this.sections.addr, ranges }, undefined, unit);
        }
      } catch (error) {
        this.unitErrors.push(`split unit ${unit.dwoName}: ${(error as Error).message}`);
      }
      this.dwoContexts.set(unitIndex, context);
    }
    return context ?? undefined;
  }

  /**
   * The inline chain at an address, innermost first. Undefined when no compilation unit covers it;
   * a single frame with an empty function name when a unit covers it but no function does.
   */
  symbolize(address: number): DwarfFrame[] | undefined {
    const unitIndex = this.unitRanges.find(address);
    if (unitIndex < 0) return undefined;
    const { lines, functions, names } = this.unitParts(unitIndex);
    const row = lines?.lookup(address);
    const chain = functions?.chain(address) ?? [];
    if (!functions || chain.length === 0) {
      return [{ functionName: '', fileName: row?.file ?? '', line: row?.line ?? 0, startLine: 0 }];
    }
    const frames: DwarfFrame[] = [];
    let fileName = row?.file ?? '';
    let line = row?.line ?? 0;
    for (let i = chain.length - 1; i >= 0; i--) {
      const node = chain[i];
      const name = names.functionName(functions.dieOffsets[node]);
      frames.push({ functionName: name.name, fileName, line, startLine: name.declLine });
      // The caller's position is where this inlined call was made.
      fileName = lines ? lines.fileName(functions.callFiles[node]) : '';
      line = functions.callLines[node];
    }
    return frames;
  }

  /**
   * What a lookup in one unit reads: its line table, its function index and the context naming its DIEs.
   * With split DWARF the skeleton keeps the line table; functions and names are in the .dwo file.
   */
  unitParts(unitIndex: number): { lines?: LineTable; functions?: FunctionIndex; names: DwarfContext } {
    const lines = this.lineTable(unitIndex);
    const split = this.units[unitIndex].dwoName !== '' ? this.dwoContext(unitIndex) : undefined;
    const functions = split ? split.functionIndex(0) : this.functionIndex(unitIndex);
    return { lines, functions, names: split ?? this };
  }

  /**
   * The addresses each compilation unit answers for, as `symbolize` chooses units: disjoint
   * [low, high, unitIndex] triples in ascending order (where unit ranges overlap, the innermost wins).
   */
  unitPartition(): { low: number; high: number; unit: number }[] {
    const { lows, highs } = this.unitRanges;
    const points = new Float64Array(lows.length + highs.length);
    points.set(lows);
    points.set(highs, lows.length);
    points.sort();
    const out: { low: number; high: number; unit: number }[] = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const low = points[i];
      const high = points[i + 1];
      if (high === low) continue;
      const unit = this.unitRanges.find(low);
      if (unit < 0) continue;
      const last = out[out.length - 1];
      if (last && last.unit === unit && last.high === low) last.high = high;
      else out.push({ low, high, unit });
    }
    return out;
  }

  /** Forgets a unit's indexes (range extraction visits each unit once and must not keep them all). */
  releaseUnit(unitIndex: number): void {
    this.lineTables.delete(unitIndex);
    this.functionIndexes.delete(unitIndex);
    const dwo = this.dwoContexts.get(unitIndex);
    if (dwo) this.unitErrors.push(...dwo.errors());
    this.dwoContexts.delete(unitIndex);
    this.units[unitIndex].releaseAbbrevs();
    this.sections.infoWindows?.release(this.units[unitIndex].offset);
    // Cached names are keyed by the DIEs of the nodes that asked, which belong to this unit; decoded
    // origins are mostly its own too (and the supplementary file's, which are kept no longer).
    this.names.clear();
    this.nameAttributes.clear();
    this.alt?.nameAttributes.clear();
  }

  /** Linkage name (else name) and declaration line, following abstract_origin and specification. */
  functionName(dieOffset: number): { name: string; declLine: number } {
    let cached = this.names.get(dieOffset);
    if (cached) return cached;
    let linkageName: string | undefined;
    let name: string | undefined;
    let declLine: number | undefined;
    // Entries are [context, offset]: origins may live in the supplementary (dwz) file. At most
    // MAX_ORIGIN_HOPS distinct DIEs are visited, so a linear scan of the visited ones is cheapest.
    const pendingContexts: DwarfContext[] = [this];
    const pendingOffsets: number[] = [dieOffset];
    const seenContexts: DwarfContext[] = [];
    const seenOffsets: number[] = [];
    for (let next = 0; next < pendingOffsets.length && seenOffsets.length < MAX_ORIGIN_HOPS; next++) {
      const context = pendingContexts[next];
      const offset = pendingOffsets[next];
      let seen = false;
      for (let i = 0; i < seenOffsets.length && !seen; i++)
        seen = seenOffsets[i] === offset && seenContexts[i] === context;
      if (seen) continue;
      seenContexts.push(context);
      seenOffsets.push(offset);
      let attrs: NameAttributes | undefined;
      try {
        attrs = context.nameAttributesAt(offset);
      } catch (error) {
        this.unitErrors.push(`DIE at 0x${offset.toString(16)}: ${(error as Error).message}`);
      }
      if (attrs) {
        linkageName ??= attrs.linkageName;
        name ??= attrs.name;
        declLine ??= attrs.declLine;
        for (const origin of attrs.origins) {
          pendingContexts.push(context);
          pendingOffsets.push(origin);
        }
        const alt = context.alt;
        if (alt) {
          for (const origin of attrs.altOrigins) {
            pendingContexts.push(alt);
            pendingOffsets.push(origin);
          }
        }
      }
      if (linkageName !== undefined && declLine !== undefined) break;
    }
    cached = { name: linkageName ?? name ?? '', declLine: declLine ?? 0 };
    this.names.set(dieOffset, cached);
    return cached;
  }

  /**
   * The name attributes of one of this context's DIEs (undefined outside every unit), remembered: every
   * inlined copy of a function leads to the same abstract origin, which need not be decoded again.
   * A DIE that fails to decode is not remembered, so its error is reported at each use as before.
   */
  private nameAttributesAt(offset: number): NameAttributes | undefined {
    let attrs = this.nameAttributes.get(offset);
    if (attrs === undefined) {
      const unit = this.unitAt(offset);
      if (!unit) return undefined;
      attrs = readNameAttributes(unit, offset);
      this.nameAttributes.set(offset, attrs);
    }
    return attrs;
  }

  private unitAt(offset: number): Unit | undefined {
    const i = lastAtOrBelow(this.unitOffsets, offset);
    const unit = i >= 0 ? this.units[i] : undefined;
    return unit && offset >= unit.firstDie && offset < unit.end ? unit : undefined;
  }
}
