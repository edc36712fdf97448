/**
 * The soak: a fleet of simulated agents (the load generator: one Export per agent every 5 s, each with the
 * agent's 5 s deadline) against a real `uniprof serve` on a fresh data directory, for a set time. Along the
 * way it samples the server's RSS, the fleet's errors and Export latency, and the latency of the UI's two main
 * queries (flamegraph and top functions over the last minute, with a read token), and at the end judges:
 * no errors, RSS on a plateau, query latency flat. `npm run soak` (bench/soak.ts) and the soak test run it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../scripts/package/node-flags.ts';
import { latencySummary, runLoadgen, type LoadgenStats } from '../../src/loadgen/index.ts';
import { generatedReadToken } from './reader-auth.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from './serve.ts';

const BIN = fileURLToPath(new URL('../../bin/uniprof.mjs', import.meta.url));
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

export interface SoakOptions {
  /** How long the fleet sends, in seconds. */
  seconds: number;
  /** Simulated agents (default 100). */
  hosts?: number;
  /** Samples per Export (default 800: an 8-core host at 20 Hz over the agent's 5 s interval). */
  samplesPerRequest?: number;
  /** Seconds between two RSS samples (default 2). */
  rssEverySeconds?: number;
  /** Seconds between two rounds of queries (default 30: someone with the UI open, refreshing now and then). */
  queryEverySeconds?: number;
  /**
   * The first seconds are the fleet arriving at a fresh collector (default 30): errors there are counted apart
   * (admission control sheds load with RESOURCE_EXHAUSTED while the fleet's stacks are stored).
   */
  warmupSeconds?: number;
  /** File name stem of the CSV and SVG written into test-artifacts/ (default `soak`). */
  name?: string;
  /** Extra `uniprof serve` arguments. */
  serveArgs?: string[];
  /** Called at each RSS sample, for a progress line. */
  onSample?: (sample: SoakSample) => void;
}

export interface SoakSample {
  /** Seconds since the fleet started. */
  t: number;
  rssMiB: number;
  /** Totals of the fleet so far. */
  requests: number;
  errors: number;
  samples: number;
}

export interface QuerySample {
  t: number;
  flamegraphMs: number;
  topNMs: number;
  /** Samples the flamegraph counted (0 would mean the query saw no data). */
  totalCount: number;
}

export interface Plateau {
  /** Least-squares slope of RSS over the last third of the run, MiB per minute. */
  lastThirdSlopeMiBPerMin: number;
  /** What the slope predicts RSS grew by over the last third. */
  lastThirdGrowthMiB: number;
  /** What it may grow by: the larger of 32 MiB and 5 % of the last third's mean RSS. */
  limitMiB: number;
  ok: boolean;
}

export interface QueryTrend {
  /** Median latency of the first and the last third of the query rounds (the first round left out). */
  firstThirdMs: { flamegraph: number; topN: number };
  lastThirdMs: { flamegraph: number; topN: number };
  /** Flat: the last third's medians at most twice the first's, or under 100 ms either way. */
  ok: boolean;
}

export interface SoakResult {
  fleet: LoadgenStats;
  /** Failed Exports during the warm-up, and after it. */
  warmupErrors: number;
  errorsAfterWarmup: number;
  rss: SoakSample[];
  queries: QuerySample[];
  queryErrors: string[];
  peakRssMiB: number;
  finalRssMiB: number;
  plateau: Plateau;
  queryTrend: QueryTrend;
  csv: string;
  svg: string;
  /** The server's stderr (warnings and errors only: it runs at log level warn). */
  serverLog: string;
}

/** Runs a soak; throws only if the server cannot be started (everything else is in the result). */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const hosts = options.hosts ?? 100;
  const samplesPerRequest = options.samplesPerRequest ?? 800;
  const dataDir = mkdtempSync(join(tmpdir(), 'uniprof-soak-'));
  // Started as Uniprof's launchers start it, so its RSS is an installed Uniprof's.
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, BIN, ...serveOnFreePorts(dataDir), ...(options.serveArgs ?? [])],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = new ProcessOutput(child);
  try {
    await output.until(SERVE_READY);
    const addresses = servedAddresses(output.stdout);
    const agentToken = readFileSync(join(dataDir, 'secret-token'), 'utf8').trim();
    const readToken = generatedReadToken(dataDir);
    const rss: SoakSample[] = [];
    const queries: QuerySample[] = [];
    const queryErrors: string[] = [];
    let progress = { requests: 0, errors: 0, samples: 0 };
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;

    const sampleRss = () => {
      const sample = { t: elapsed(), rssMiB: rssMiBOf(child.pid!), ...progress };
      rss.push(sample);
      options.onSample?.(sample);
    };
    const rssTimer = setInterval(sampleRss, (options.rssEverySeconds ?? 2) * 1000);
    let querying = Promise.resolve();
    const queryTimer = setInterval(
      () => {
        // One round at a time: a slow round delays the next instead of piling up.
        querying = querying.then(() =>
          queryRound(addresses.api, readToken, elapsed).then(
            (sample) => void queries.push(sample),
            (error: unknown) =>
              void queryErrors.push(`${elapsed().toFixed(0)} s: ${(error as Error).message}`),
          ),
        );
      },
      (options.queryEverySeconds ?? 30) * 1000,
    );
    let fleet: LoadgenStats;
    try {
      fleet = await runLoadgen({
        target: addresses.grpc,
        token: agentToken,
        hosts,
        seed: 1,
        // Each agent sends one request per 5 s interval and waits for its answer before the next.
        rate: (hosts * samplesPerRequest) / 5,
        samplesPerRequest,
        concurrency: hosts,
        duration: options.seconds,
        timeoutMs: 5000,
        onProgress: (stats) =>
          (progress = { requests: stats.requests, errors: stats.errors, samples: stats.samples }),
      });
    } finally {
      clearInterval(rssTimer);
      clearInterval(queryTimer);
      await querying;
    }
    progress = { requests: fleet.requests, errors: fleet.errors, samples: fleet.samples };
    sampleRss();
    const name = options.name ?? 'soak';
    mkdirSync(ARTIFACTS, { recursive: true });
    const csv = join(ARTIFACTS, `${name}.csv`);
    const svg = join(ARTIFACTS, `${name}.svg`);
    writeFileSync(csv, soakCsv(rss, queries));
    writeFileSync(
      svg,
      rssPlot(rss, `uniprof serve RSS, ${hosts} agents, ${(options.seconds / 60).toFixed(0)} min`),
    );
    const warmup = options.warmupSeconds ?? 30;
    const warmupErrors = [...rss].reverse().find((s) => s.t <= warmup)?.errors ?? 0;
    return {
      fleet,
      warmupErrors,
      errorsAfterWarmup: fleet.errors - warmupErrors,
      rss,
      queries,
      queryErrors,
      peakRssMiB: Math.max(...rss.map((s) => s.rssMiB)),
      finalRssMiB: rss[rss.length - 1].rssMiB,
      plateau: plateauOf(rss),
      queryTrend: queryTrendOf(queries),
      csv,
      svg,
      serverLog: output.stderr,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The resident set of a process, from /proc (Linux): what the kernel charges it, the figure to bound. */
export function rssMiBOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

async function queryRound(api: string, readToken: string, elapsed: () => number): Promise<QuerySample> {
  const to = Math.floor(Date.now() / 1000);
  const range = `from=${to - 60}&to=${to}`;
  const get = async (path: string) => {
    const started = performance.now();
    const response = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${readToken}` } });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status}: ${body.slice(0, 200)}`);
    return { ms: performance.now() - started, body };
  };
  const t = elapsed();
  const flamegraph = await get(`/api/flamegraph?${range}`);
  const topN = await get(`/api/topn/functions?${range}&limit=100`);
  const totalCount = (JSON.parse(flamegraph.body) as { totalCount: number }).totalCount;
  return { t, flamegraphMs: flamegraph.ms, topNMs: topN.ms, totalCount };
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * RSS is on a plateau when the trend over the last third of the run adds less than the limit across that
 * third: a leak or an unbounded map keeps growing at the rate data arrives, while caches and DuckDB's buffer
 * pool level off. A trend over all samples (not first against last) is robust to garbage collection's swings.
 */
export function plateauOf(rss: readonly SoakSample[]): Plateau {
  const end = rss[rss.length - 1]?.t ?? 0;
  const last = rss.filter((s) => s.t >= (2 * end) / 3);
  const perMinute = slope(last.map((s) => ({ x: s.t / 60, y: s.rssMiB })));
  const growth = perMinute * (end / 3 / 60);
  const mean = last.reduce((sum, s) => sum + s.rssMiB, 0) / Math.max(1, last.length);
  const limit = Math.max(32, 0.05 * mean);
  return {
    lastThirdSlopeMiBPerMin: perMinute,
    lastThirdGrowthMiB: growth,
    limitMiB: limit,
    ok: last.length >= 3 && growth < limit,
  };
}

export function queryTrendOf(queries: readonly QuerySample[]): QueryTrend {
  const rounds = queries.slice(1);
  const third = Math.max(1, Math.floor(rounds.length / 3));
  const first = rounds.slice(0, third);
  const last = rounds.slice(-third);
  const medians = (part: readonly QuerySample[]) => ({
    flamegraph: latencySummary(part.map((q) => q.flamegraphMs)).p50,
    topN: latencySummary(part.map((q) => q.topNMs)).p50,
  });
  const firstThirdMs = medians(first);
  const lastThirdMs = medians(last);
  const flat = (a: number, b: number) => b <= Math.max(2 * a, 100);
  return {
    firstThirdMs,
    lastThirdMs,
    ok:
      rounds.length >= 3 &&
      flat(firstThirdMs.flamegraph, lastThirdMs.flamegraph) &&
      flat(firstThirdMs.topN, lastThirdMs.topN),
  };
}

export function soakCsv(rss: readonly SoakSample[], queries: readonly QuerySample[]): string {
  const lines = ['seconds,rss_mib,requests,errors,samples,flamegraph_ms,topn_ms,flamegraph_samples'];
  // Queries are joined to the RSS sample taken at or after them, so each row is one point in time.
  let q = 0;
  for (const s of rss) {
    const round = q < queries.length && queries[q].t <= s.t ? queries[q++] : undefined;
    lines.push(
      [
        s.t.toFixed(1),
        s.rssMiB.toFixed(1),
        s.requests,
        s.errors,
        s.samples,
        round?.flamegraphMs.toFixed(1) ?? '',
        round?.topNMs.toFixed(1) ?? '',
        round?.totalCount ?? '',
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A line chart of RSS (MiB) over time (minutes) as a standalone SVG. */
export function rssPlot(rss: readonly SoakSample[], title: string): string {
  const width = 800;
  const height = 400;
  const margin = { left: 60, right: 20, top: 40, bottom: 50 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const maxT = Math.max(1, ...rss.map((s) => s.t)) / 60;
  const maxY = niceCeiling(Math.max(1, ...rss.map((s) => s.rssMiB)));
  const x = (minutes: number) => margin.left + (minutes / maxT) * plotW;
  const y = (mib: number) => margin.top + plotH - (mib / maxY) * plotH;
  const points = rss.map((s) => `${x(s.t / 60).toFixed(1)},${y(s.rssMiB).toFixed(1)}`).join(' ');
  const yTicks = Array.from({ length: 5 }, (_, i) => (maxY * i) / 4);
  const xTicks = Array.from({ length: 6 }, (_, i) => (maxT * i) / 5);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    ...yTicks.map(
      (v) =>
        `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
        `<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`,
    ),
    ...xTicks.map(
      (m) =>
        `<text x="${x(m)}" y="${height - margin.bottom + 18}" text-anchor="middle">${m.toFixed(m < 10 ? 1 : 0)}</text>`,
    ),
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">minutes</text>`,
    `<text x="16" y="${margin.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + plotH / 2})">RSS (MiB)</text>`,
    `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/>`,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

function niceCeiling(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
