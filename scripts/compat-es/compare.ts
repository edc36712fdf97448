/**
 * Compares what the reference (the OpenTelemetry Collector's Elasticsearch exporter) and Uniprof wrote for the
 * same OTLP requests, index by index and document by document. Pure: it works on two dumps (dump.ts).
 *
 * - Content-addressed indices (stack traces, frames, executables, the symbolization queues): documents are
 *   paired by `_id`; an ID on one side only, a field on one side only and a differing value are each a
 *   difference.
 * - Events, level 0 (`profiling-events-all`): documents have random IDs and the reference writes one document
 *   per sample, so they are summed by their content (stack trace, second, host, thread, process, container,
 *   service…) and the sums compared exactly.
 * - Events, level N ≥ 1 (`profiling-events-5powNN`): every sample reaches level N independently with
 *   probability 5^-N (both sides thin each unit of count by 1/5 per level), so a level's total is
 *   Binomial(T, 5^-N) for T samples at level 0. Each side's total must lie within 5 standard deviations (+1)
 *   of T·5^-N; a false alarm at that bound is rarer than one in a million per level.
 * - Hosts: reports have random IDs; they are paired by `host.id`.
 *
 * A difference that is understood is matched by an entry of EXPLAINED (docs/elasticsearch.md explains each
 * one by the same name, with the reference's source file); everything else is unexplained.
 */
import type { DumpedDocument, Dump, FlatDocument } from './dump.ts';

export interface Difference {
  index: string;
  kind:
    | 'index-only-in-reference'
    | 'index-only-in-ours'
    | 'only-in-reference'
    | 'only-in-ours'
    | 'field-only-in-reference'
    | 'field-only-in-ours'
    | 'value'
    | 'document-count'
    | 'event-sum'
    | 'level-total';
  field?: string;
  /** A document ID, event key or host ID. */
  id?: string;
  detail: string;
  explanation?: string;
}

export interface Explanation {
  name: string;
  /** Which differences it covers. */
  index: RegExp;
  kinds: readonly Difference['kind'][];
  /** Only differences on these fields (all fields when absent). */
  fields?: readonly string[];
  /** Only differences whose ID (document ID, event key, host ID, or side of a level total) matches. */
  ids?: RegExp;
}

const EVENTS = /^profiling-events-(all|5pow\d\d)$/;

/** Every understood difference, by name; docs/elasticsearch.md ("Compared with the reference") says why. */
export const EXPLAINED: readonly Explanation[] = [
  { name: 'events-one-per-sample', index: EVENTS, kinds: ['document-count'] },
  {
    name: 'reference-drops-downsampled-events',
    index: EVENTS,
    kinds: ['level-total'],
    ids: /^reference$/,
  },
  { name: 'events-host-of-agents-without-host-id', index: EVENTS, kinds: ['event-sum'], ids: /^host-less:/ },
  {
    name: 'events-project-id',
    index: EVENTS,
    kinds: ['value'],
    fields: ['profiling.project.id'],
  },
  {
    name: 'events-sampling-frequency',
    index: EVENTS,
    kinds: ['field-only-in-reference'],
    fields: ['Stacktrace.sampling_frequency'],
  },
  {
    name: 'events-fields-the-reference-leaves-out',
    index: EVENTS,
    kinds: ['field-only-in-ours'],
    fields: ['host.ip', 'agent.version', 'os.kernel', 'tags'],
  },
  { name: 'executables-scripted-upsert', index: /^profiling-executables$/, kinds: ['only-in-ours'] },
  {
    name: 'reference-writes-no-hosts',
    index: /^profiling-hosts$/,
    kinds: ['index-only-in-ours', 'only-in-ours', 'document-count'],
  },
  {
    name: 'queue-times',
    index: /^profiling-sq-(executables|leafframes)$/,
    kinds: ['value'],
    fields: ['Time.created', 'Symbolization.time.next'],
  },
  {
    name: 'queue-fields-of-our-symbolizer',
    index: /^profiling-sq-(executables|leafframes)$/,
    kinds: ['field-only-in-ours'],
    fields: [
      'Executable.file.id',
      'Executable.file.name',
      'Executable.build.id',
      'uniprof.queued',
      'uniprof.frames_queued',
    ],
  },
  {
    name: 'reference-queues-frames-without-file',
    index: /^profiling-sq-(executables|leafframes)$/,
    kinds: ['only-in-reference'],
    // The file ID the reference makes up for a location without build ID or lines: XXH64 of no input, twice.
    ids: /^70bbN1HY6ZnvRts3UdjpmQ/,
  },
];

export interface IndexCount {
  index: string;
  reference: number;
  ours: number;
}

export interface ComparisonResult {
  /** Documents read from both clusters. */
  compared: number;
  counts: IndexCount[];
  differences: Difference[];
}

function explain(difference: Difference): Difference {
  const match = EXPLAINED.find(
    (e) =>
      e.index.test(difference.index) &&
      e.kinds.includes(difference.kind) &&
      (!e.fields || (difference.field !== undefined && e.fields.includes(difference.field))) &&
      (!e.ids || (difference.id !== undefined && e.ids.test(difference.id))),
  );
  return match ? { ...difference, explanation: match.name } : difference;
}

const show = (value: unknown): string => JSON.stringify(value) ?? 'undefined';

const equalValues = (a: unknown, b: unknown): boolean => show(a) === show(b);

/** Field presence and values of two documents known to be the same thing. */
function compareFields(
  index: string,
  id: string,
  reference: FlatDocument,
  ours: FlatDocument,
  out: Difference[],
  skip: ReadonlySet<string> = new Set(),
): void {
  for (const field of new Set([...Object.keys(reference), ...Object.keys(ours)])) {
    if (skip.has(field)) continue;
    const inReference = field in reference;
    const inOurs = field in ours;
    if (!inOurs) {
      out.push({ index, kind: 'field-only-in-reference', field, id, detail: show(reference[field]) });
    } else if (!inReference) {
      out.push({ index, kind: 'field-only-in-ours', field, id, detail: show(ours[field]) });
    } else if (!equalValues(reference[field], ours[field])) {
      out.push({
        index,
        kind: 'value',
        field,
        id,
        detail: `reference ${show(reference[field])}, ours ${show(ours[field])}`,
      });
    }
  }
}

function compareById(
  index: string,
  reference: readonly DumpedDocument[],
  ours: readonly DumpedDocument[],
  out: Difference[],
): void {
  const ourById = new Map(ours.map((d) => [d.id, d.source]));
  const referenceIds = new Set<string>();
  for (const { id, source } of reference) {
    referenceIds.add(id);
    const mine = ourById.get(id);
    if (!mine) out.push({ index, kind: 'only-in-reference', id, detail: show(source) });
    else compareFields(index, id, source, mine, out);
  }
  for (const { id, source } of ours) {
    if (!referenceIds.has(id)) out.push({ index, kind: 'only-in-ours', id, detail: show(source) });
  }
}

/** Epoch seconds from either layout's `@timestamp`: epoch seconds (number or text) or ISO-8601. */
export function epochSeconds(value: unknown): number {
  if (typeof value === 'number') return Math.floor(value);
  const text = String(value);
  if (/^\d+(\.\d+)?$/.test(text)) return Math.floor(Number(text));
  return Math.floor(Date.parse(text) / 1000);
}

/** Fields that are not part of an event's identity: the count itself and those compared on their own. */
const EVENT_NON_KEY_FIELDS = new Set([
  'Stacktrace.count',
  '@timestamp',
  'profiling.project.id',
  'ecs.version',
]);

function eventFieldPresence(
  index: string,
  reference: readonly DumpedDocument[],
  ours: readonly DumpedDocument[],
  out: Difference[],
): Set<string> {
  const fieldsOf = (docs: readonly DumpedDocument[]) => {
    const fields = new Set<string>();
    for (const { source } of docs) {
      for (const [field, value] of Object.entries(source)) if (value !== '') fields.add(field);
    }
    return fields;
  };
  const referenceFields = fieldsOf(reference);
  const ourFields = fieldsOf(ours);
  const common = new Set<string>();
  // With no documents on one side there are no fields to compare, only counts.
  if (reference.length === 0 || ours.length === 0) return common;
  for (const field of new Set([...referenceFields, ...ourFields])) {
    if (!ourFields.has(field)) {
      out.push({ index, kind: 'field-only-in-reference', field, detail: 'in no event of ours' });
    } else if (!referenceFields.has(field)) {
      out.push({ index, kind: 'field-only-in-ours', field, detail: "in no event of the reference's" });
    } else if (!EVENT_NON_KEY_FIELDS.has(field)) common.add(field);
  }
  for (const field of ['profiling.project.id', 'ecs.version']) {
    const values = (docs: readonly DumpedDocument[]) =>
      [...new Set(docs.map((d) => show(d.source[field])))].sort().join(',');
    if (reference.length > 0 && ours.length > 0 && values(reference) !== values(ours)) {
      out.push({
        index,
        kind: 'value',
        field,
        detail: `reference ${values(reference)}, ours ${values(ours)}`,
      });
    }
  }
  return common;
}

/** The host fields: the one part of an event's identity the two sides may legitimately make differently. */
const HOST_FIELDS = new Set(['host.id', 'host.name']);

interface EventSum {
  sum: number;
  /** The key without the host fields. */
  hostLess: string;
}

function eventSums(docs: readonly DumpedDocument[], keyFields: readonly string[]): Map<string, EventSum> {
  const sums = new Map<string, EventSum>();
  const value = (source: FlatDocument, field: string) => (source[field] === '' ? undefined : source[field]);
  for (const { source } of docs) {
    const second = epochSeconds(source['@timestamp']);
    const key = show([second, ...keyFields.map((field) => value(source, field))]);
    let entry = sums.get(key);
    if (!entry) {
      const hostLess = show([
        second,
        ...keyFields.filter((f) => !HOST_FIELDS.has(f)).map((f) => value(source, f)),
      ]);
      sums.set(key, (entry = { sum: 0, hostLess }));
    }
    entry.sum += Number(source['Stacktrace.count']);
  }
  return sums;
}

const total = (docs: readonly DumpedDocument[]): number =>
  docs.reduce((sum, d) => sum + Number(d.source['Stacktrace.count']), 0);

function compareLevelZero(
  index: string,
  reference: readonly DumpedDocument[],
  ours: readonly DumpedDocument[],
  out: Difference[],
): void {
  const keyFields = [...eventFieldPresence(index, reference, ours, out)].sort();
  const referenceSums = eventSums(reference, keyFields);
  const ourSums = eventSums(ours, keyFields);
  const label = `[second, ${keyFields.join(', ')}]`;
  // Keys whose sums differ are summed again without the host fields: the standalone agent names no host,
  // and then each side identifies it its own way. Equal there, they differ only in the host.
  const mismatched: { key: string; a: number; b: number; hostLess: string }[] = [];
  const hostLessSums = new Map<string, { a: number; b: number }>();
  for (const key of new Set([...referenceSums.keys(), ...ourSums.keys()])) {
    const a = referenceSums.get(key)?.sum ?? 0;
    const b = ourSums.get(key)?.sum ?? 0;
    if (a === b) continue;
    const hostLess = (referenceSums.get(key) ?? ourSums.get(key))!.hostLess;
    mismatched.push({ key, a, b, hostLess });
    const sums = hostLessSums.get(hostLess) ?? { a: 0, b: 0 };
    sums.a += a;
    sums.b += b;
    hostLessSums.set(hostLess, sums);
  }
  for (const { key, a, b, hostLess } of mismatched) {
    const sums = hostLessSums.get(hostLess)!;
    const onlyTheHost = sums.a === sums.b;
    out.push({
      index,
      kind: 'event-sum',
      id: onlyTheHost ? `host-less:${key}` : key,
      detail: `${label}: reference ${a}, ours ${b}${onlyTheHost ? ' (equal without the host fields)' : ''}`,
    });
  }
  if (reference.length !== ours.length) {
    out.push({
      index,
      kind: 'document-count',
      detail: `reference ${reference.length} documents, ours ${ours.length} (samples: ${total(reference)} / ${total(ours)})`,
    });
  }
}

/** Level totals against Binomial(T, 5^-level) (see the file comment). */
export function levelTotalWithinBounds(level: number, levelZeroTotal: number, levelTotal: number): boolean {
  const p = 5 ** -level;
  const expected = levelZeroTotal * p;
  const bound = 5 * Math.sqrt(levelZeroTotal * p * (1 - p)) + 1;
  return Math.abs(levelTotal - expected) <= bound;
}

function compareLevel(
  index: string,
  level: number,
  totals: { reference: number; ours: number },
  reference: readonly DumpedDocument[],
  ours: readonly DumpedDocument[],
  out: Difference[],
): void {
  eventFieldPresence(index, reference, ours, out);
  for (const [side, docs, levelZero] of [
    ['reference', reference, totals.reference],
    ['ours', ours, totals.ours],
  ] as const) {
    const sum = total(docs);
    if (!levelTotalWithinBounds(level, levelZero, sum)) {
      out.push({
        index,
        kind: 'level-total',
        id: side,
        detail: `${side}: ${sum} samples at level ${level}, expected ${(levelZero * 5 ** -level).toFixed(1)} of ${levelZero}`,
      });
    }
  }
  if (reference.length !== ours.length) {
    out.push({
      index,
      kind: 'document-count',
      detail: `reference ${reference.length} documents, ours ${ours.length} (samples: ${total(reference)} / ${total(ours)})`,
    });
  }
}

function latestByHost(docs: readonly DumpedDocument[]): Map<string, FlatDocument> {
  const latest = new Map<string, FlatDocument>();
  for (const { source } of docs) {
    const host = String(source['host.id']);
    const seen = latest.get(host);
    if (!seen || epochSeconds(source['@timestamp']) >= epochSeconds(seen['@timestamp']))
      latest.set(host, source);
  }
  return latest;
}

function compareHosts(
  index: string,
  reference: readonly DumpedDocument[],
  ours: readonly DumpedDocument[],
  out: Difference[],
): void {
  const referenceHosts = latestByHost(reference);
  const ourHosts = latestByHost(ours);
  for (const [host, source] of referenceHosts) {
    const mine = ourHosts.get(host);
    if (!mine) out.push({ index, kind: 'only-in-reference', id: host, detail: show(source) });
    else compareFields(index, host, source, mine, out);
  }
  for (const [host, source] of ourHosts) {
    if (!referenceHosts.has(host)) out.push({ index, kind: 'only-in-ours', id: host, detail: show(source) });
  }
  if (reference.length !== ours.length) {
    out.push({
      index,
      kind: 'document-count',
      detail: `reference ${reference.length} host reports, ours ${ours.length}`,
    });
  }
}

/** Indices Uniprof writes and reads; a symbols index or one the reference never writes is left out. */
const COMPARED =
  /^profiling-(events-.*|stacktraces|stackframes|executables|hosts|sq-executables|sq-leafframes)$/;

export function compareDumps(reference: Dump, ours: Dump): ComparisonResult {
  const differences: Difference[] = [];
  const counts: IndexCount[] = [];
  let compared = 0;
  const names = [...new Set([...reference.keys(), ...ours.keys()])].filter((n) => COMPARED.test(n)).sort();
  const levelZero = {
    reference: total(reference.get('profiling-events-all') ?? []),
    ours: total(ours.get('profiling-events-all') ?? []),
  };
  for (const index of names) {
    const a = reference.get(index) ?? [];
    const b = ours.get(index) ?? [];
    counts.push({ index, reference: a.length, ours: b.length });
    compared += a.length + b.length;
    if (a.length === 0 && b.length > 0 && !EVENTS.test(index) && index !== 'profiling-executables') {
      differences.push({ index, kind: 'index-only-in-ours', detail: `${b.length} documents` });
    }
    if (index === 'profiling-events-all') compareLevelZero(index, a, b, differences);
    else if (EVENTS.test(index)) {
      compareLevel(index, Number(index.slice(-2)), levelZero, a, b, differences);
    } else if (index === 'profiling-hosts') compareHosts(index, a, b, differences);
    else compareById(index, a, b, differences);
  }
  return { compared, counts, differences: differences.map(explain) };
}

/** The report: counts per index, each kind of difference with how many and a few examples, the last line. */
export function formatReport(result: ComparisonResult, examples = 3): string[] {
  const lines: string[] = [];
  const width = Math.max(...result.counts.map((c) => c.index.length), 5);
  lines.push(`${'index'.padEnd(width)}  reference       ours`);
  for (const c of result.counts) {
    lines.push(`${c.index.padEnd(width)}  ${String(c.reference).padStart(9)}  ${String(c.ours).padStart(9)}`);
  }
  const groups = new Map<string, Difference[]>();
  for (const d of result.differences) {
    const key = `${d.index} ${d.kind}${d.field ? ` ${d.field}` : ''}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(d);
  }
  for (const [key, group] of groups) {
    const explanation = group[0].explanation;
    lines.push(
      `${explanation ? 'explained' : 'DIFFERENCE'} ${key} ×${group.length}${explanation ? ` (${explanation})` : ''}`,
    );
    for (const d of group.slice(0, examples))
      lines.push(`    ${d.id ? `${d.id}: ` : ''}${d.detail.slice(0, 300)}`);
  }
  const explained = result.differences.filter((d) => d.explanation).length;
  lines.push(
    `compared ${result.compared} documents, ${result.differences.length} differences (${explained} explained)`,
  );
  return lines;
}
