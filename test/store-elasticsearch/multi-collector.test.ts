/**
 * Several `uniprof collector` processes writing into one Elasticsearch at once: three collectors start
 * together (racing to install the layout), two load-generator agents send to two of them, then each agent
 * reconnects to another collector and goes on — resending the stacks, frames and executables it sent
 * before. Afterwards every content-addressed document is there exactly once, with exactly the IDs the
 * requests carry, and the events hold exactly the samples the collectors acknowledged.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import { startElasticsearch, type ElasticsearchPeer } from '../peers/elasticsearch.ts';
import {
  answered,
  auditWindows,
  elasticsearchWindows,
  sendLoad,
  WINDOW_SECONDS,
  type Ledger,
} from '../support/acknowledged-load.ts';
import { allIds, duplicates } from './helpers.ts';
import { ProcessOutput, SERVE_READY, serveOnFreePorts, servedAddresses } from '../support/serve.ts';

const BIN = new URL('../../bin/uniprof.mjs', import.meta.url).pathname;
const COLLECTORS = 3;
const SAMPLES_PER_REQUEST = 100;
/** How long each phase of load lasts. */
const PHASE_MS = 2_000;
const root = mkdtempSync(join(tmpdir(), 'uniprof-es-multi-'));
let peer: ElasticsearchPeer;

interface Collector {
  child: ChildProcess;
  output: ProcessOutput;
  grpc: string;
  token: string;
  spoolDir: string;
}

before(async () => {
  peer = await startElasticsearch();
});
after(async () => {
  await peer?.dispose();
  rmSync(root, { recursive: true, force: true });
});

async function startCollector(name: string): Promise<Collector> {
  const dataDir = join(root, name);
  const ca = join(root, 'es-ca.pem');
  writeFileSync(ca, peer.caPem);
  const [, ...listeners] = serveOnFreePorts(dataDir);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'collector',
      ...listeners,
      ...['--set', 'output.type=elasticsearch', '--set', `output.elasticsearch.hosts=${peer.url}`],
      ...['--set', `output.elasticsearch.username=${peer.username}`],
      ...['--set', `output.elasticsearch.password=${peer.password}`],
      ...['--set', `output.elasticsearch.tls.ca=${ca}`],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = new ProcessOutput(child);
  await output.until(SERVE_READY);
  return {
    child,
    output,
    grpc: servedAddresses(output.stdout).grpc,
    token: readFileSync(join(dataDir, 'secret-token'), 'utf8').trim(),
    spoolDir: join(dataDir, 'elasticsearch-spool'),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

const spoolEmpty = (collector: Collector) =>
  readdirSync(collector.spoolDir).filter((name) => /^\d+\.(open|seg)$/.test(name)).length === 0;

/** One agent: a seed (its hosts and stacks) and a ledger whose windows no other agent's overlap. */
interface Agent {
  seed: number;
  ledger: Ledger;
  /** [first window, end window) of each connection, in order: each began with a fresh load generator. */
  connections: [number, number][];
}

function newAgent(seed: number, start: number): Agent {
  return {
    seed,
    ledger: { start, sent: new Map(), acknowledged: new Set(), refusals: new Map() },
    connections: [],
  };
}

/** Runs an agent against a collector for a while; resolves once every request has its answer. */
async function connect(agent: Agent, collector: Collector): Promise<void> {
  const first = agent.ledger.sent.size;
  const answeredBefore = answered(agent.ledger);
  const load = sendLoad(agent.ledger, {
    target: collector.grpc,
    token: collector.token,
    seed: agent.seed,
    samplesPerRequest: SAMPLES_PER_REQUEST,
    concurrency: 1,
  });
  try {
    await waitFor('a first answer', () => answered(agent.ledger) > answeredBefore, 60_000);
    await sleep(PHASE_MS);
  } finally {
    await load.stop();
  }
  agent.connections.push([first, agent.ledger.sent.size]);
}

/**
 * The IDs an agent's requests carry, found by generating them again (sendLoad's workload, seeded the same,
 * one per connection) and translating them as a collector does.
 */
function expectedIds(agent: Agent): {
  stackTraces: Set<string>;
  frames: Set<string>;
  executables: Set<string>;
} {
  const ids = { stackTraces: new Set<string>(), frames: new Set<string>(), executables: new Set<string>() };
  for (const [first, end] of agent.connections) {
    const workload = new Workload({ seed: agent.seed, hosts: 20, processesPerHost: 3 });
    for (let window = first; window < end; window++) {
      const endMillis = (agent.ledger.start + (window + 1) * WINDOW_SECONDS) * 1000;
      const generated = workload.next(nanosFromMillis(endMillis), SAMPLES_PER_REQUEST, WINDOW_SECONDS);
      // A fresh translator each time: it then names every ID of the request, not only the new ones.
      const { batch } = new ProfileTranslator().translate(generated.request, {});
      for (const trace of batch.stackTraces) ids.stackTraces.add(trace.id);
      for (const frame of batch.stackFrames) ids.frames.add(frame.frameId);
      for (const executable of batch.executables) ids.executables.add(executable.fileId);
    }
  }
  return ids;
}

describe('several collectors writing to one Elasticsearch', { timeout: 600_000 }, () => {
  it('store every stack trace, frame and executable once and every acknowledged sample exactly', async () => {
    // All three start at once: they race to install the layout.
    const collectors = await Promise.all(
      Array.from({ length: COLLECTORS }, (_, i) => startCollector(`collector-${i}`)),
    );
    // Two agents in separate time ranges (an hour apart, both within the last day).
    const base = Math.floor((Date.now() / 1000 - 86_400) / WINDOW_SECONDS) * WINDOW_SECONDS;
    const agents = [newAgent(101, base), newAgent(202, base + 3_600)];
    try {
      // Different agents on different collectors at once…
      await Promise.all([connect(agents[0], collectors[0]), connect(agents[1], collectors[1])]);
      // …then each reconnects to another collector, sending its stacks again from a fresh start.
      await Promise.all([connect(agents[0], collectors[2]), connect(agents[1], collectors[0])]);
      for (const collector of collectors) {
        await waitFor('the spool to drain', () => spoolEmpty(collector)).catch((error: Error) => {
          const left = readdirSync(collector.spoolDir).join(' ');
          throw new Error(
            `${error.message}; spool holds ${left}\n${collector.output.stdout}${collector.output.stderr}`,
          );
        });
      }
    } finally {
      for (const collector of collectors) {
        collector.child.kill('SIGTERM');
        await once(collector.child, 'exit');
      }
    }
    for (const agent of agents) {
      assert.deepEqual([...agent.ledger.refusals], [], 'a healthy cluster refuses nothing');
      assert.ok(agent.ledger.acknowledged.size > 0);
    }

    for (const name of ['profiling-events-all', '.profiling-*']) {
      const refreshed = await peer.request('POST', `/${name}/_refresh?expand_wildcards=all`);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    }
    const expected = agents.map(expectedIds);
    const union = (pick: (ids: (typeof expected)[number]) => Set<string>) =>
      new Set(expected.flatMap((ids) => [...pick(ids)]));
    const checks = [
      { alias: 'profiling-stacktraces', want: union((ids) => ids.stackTraces) },
      { alias: 'profiling-stackframes', want: union((ids) => ids.frames) },
      { alias: 'profiling-executables', want: union((ids) => ids.executables) },
    ];
    const figures: string[] = [];
    for (const { alias, want } of checks) {
      const ids = await allIds(peer, alias);
      assert.ok(want.size > 0, `the load carries ${alias} documents`);
      assert.deepEqual(duplicates(ids), [], `${alias}: no ID twice`);
      assert.deepEqual(new Set(ids), want, `${alias}: exactly the IDs the requests carry`);
      figures.push(`${alias} ${ids.length}`);
    }
    for (const agent of agents) {
      assert.deepEqual(auditWindows(agent.ledger, await elasticsearchWindows(peer, agent.ledger)), []);
    }
    const acknowledged = agents.reduce((sum, agent) => sum + agent.ledger.acknowledged.size, 0);
    console.log(
      `# ${acknowledged} acknowledged requests over ${COLLECTORS} collectors; ${figures.join(', ')}`,
    );
  });
});
