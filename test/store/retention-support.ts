/**
 * Shared by the retention tests: load-generator requests sent through a real collector into the embedded
 * store, and checks of the store's references made in SQL and JavaScript of their own (not retention's).
 */
import { ExportClient, Workload } from '../../src/loadgen/index.ts';
import { parseFrameId } from '../../src/model/index.ts';
import { encodeExportRequest } from '../../src/protocol/otlp-profiles.ts';
import type { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { EVENT_LEVELS, eventsTable } from '../../src/store/embedded/schema.ts';

export const DAY = 86_400;

/** Sends `requests` requests of a workload ending at `end` (epoch seconds), 5 s apart; all must be acknowledged. */
export async function sendRequests(
  client: ExportClient,
  workload: Workload,
  end: number,
  requests: number,
  samples = 150,
): Promise<number> {
  let sent = 0;
  for (let i = 0; i < requests; i++) {
    const endNanos = BigInt(end - (requests - 1 - i) * 5) * 1_000_000_000n;
    const generated = workload.next(endNanos, samples);
    const outcome = await client.export(encodeExportRequest(generated.request));
    if (!outcome.ok) throw new Error(`export refused: ${outcome.status} ${outcome.message}`);
    sent += generated.samples;
  }
  return sent;
}

export function workload(seed: number): Workload {
  return new Workload({ seed, hosts: 3, processesPerHost: 2, stacksPerRuntime: 150 });
}

export interface StoreContents {
  /** Rows per events table, and how many are older than the cutoff asked about. */
  eventsPerLevel: number[];
  eventsBefore: number;
  /** Stack IDs named by any event of any level. */
  namedStacks: Set<string>;
  stackTraces: Set<string>;
  stackFrames: Set<string>;
  executables: Set<string>;
  /** Frame IDs (and their file IDs) named by stored stack traces. */
  framesOfStacks: Set<string>;
  filesOfStacks: Set<string>;
}

export async function contents(store: EmbeddedStore, cutoff: number): Promise<StoreContents> {
  const ids = async (sql: string) => new Set((await store.readRows(sql)).map((r) => String(r.id)));
  const eventsPerLevel: number[] = [];
  let eventsBefore = 0;
  for (const level of EVENT_LEVELS) {
    const [row] = await store.readRows(
      `SELECT count(*)::BIGINT AS n, count(*) FILTER (WHERE ts < ?)::BIGINT AS old FROM ${eventsTable(level)}`,
      [cutoff],
    );
    eventsPerLevel.push(Number(row.n));
    eventsBefore += Number(row.old);
  }
  const union = EVENT_LEVELS.map((l) => `SELECT stack_no FROM ${eventsTable(l)}`).join(' UNION ');
  const namedStacks = await ids(`SELECT sn.id FROM stack_numbers sn JOIN (${union}) u ON u.stack_no = sn.no`);
  const traces = await store.readRows('SELECT id, frame_ids FROM stacktraces');
  const framesOfStacks = new Set<string>();
  const filesOfStacks = new Set<string>();
  for (const trace of traces) {
    const text = String(trace.frame_ids);
    for (let i = 0; i < text.length; i += 32) {
      const frame = text.slice(i, i + 32);
      framesOfStacks.add(frame);
      filesOfStacks.add(parseFrameId(frame).fileId);
    }
  }
  return {
    eventsPerLevel,
    eventsBefore,
    namedStacks,
    stackTraces: new Set(traces.map((t) => String(t.id))),
    stackFrames: await ids('SELECT id FROM stackframes'),
    executables: await ids('SELECT file_id AS id FROM executables'),
    framesOfStacks,
    filesOfStacks,
  };
}

/** Items of `a` missing from `b`. */
export function missing(a: Iterable<string>, b: ReadonlySet<string>): string[] {
  return [...a].filter((x) => !b.has(x));
}

export { ExportClient };
