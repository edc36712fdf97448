/**
 * A real Elasticsearch for tests: the integration-test distribution from Maven Central (it ships the
 * x-pack-core and x-pack-security modules, so security runs as in a default install: basic auth and TLS
 * on HTTP), downloaded once into the cache, started on loopback with a small heap.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { withCacheLock } from './cache-lock.ts';
import { freePort } from '../support/ports.ts';

const run = promisify(execFile);

/** The newest 8.x: what the tests run against unless they ask for another version. */
export const ELASTICSEARCH_VERSION = '8.19.21';
/**
 * The oldest version Uniprof supports (the seed's minimum); the store and query tests also run against it
 * (test/store-elasticsearch/store-8.12.test.ts). 9.x integration-test archives are not on Maven Central.
 */
export const OLDEST_ELASTICSEARCH_VERSION = '8.12.2';

/**
 * Set to run every Elasticsearch test against another version (`UNIPROF_ELASTICSEARCH_VERSION=8.12.2 npm
 * test`); the *-8.12.test.ts files set it for the suites they re-run.
 */
export const VERSION_VARIABLE = 'UNIPROF_ELASTICSEARCH_VERSION';

function distributionUrl(version: string): string {
  return (
    'https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch/' +
    `${version}/elasticsearch-${version}.zip`
  );
}
/** Elasticsearch refuses to run as root; under root the peer runs as this unprivileged user. */
const NOBODY_UID = 65534;
const NOBODY_GID = 65534;

export const ELASTIC_USER = 'elastic';
export const ELASTIC_PASSWORD = 'uniprof-test-password';

export interface ElasticsearchPeer {
  /** The Elasticsearch version running, e.g. 8.19.21. */
  readonly version: string;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** PEM of the CA that signed the node's HTTP certificate. */
  readonly caPem: string;
  readonly running: boolean;
  /** Stops the node, keeping its data, so a test can take it away and bring it back. */
  stop(): Promise<void>;
  /** Starts the node again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops the node and deletes its data. */
  dispose(): Promise<void>;
  /** A JSON request as the superuser (for test set-up and checks). */
  request(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

function cacheRoot(): string {
  return process.env.UNIPROF_CACHE ?? path.join(os.homedir(), '.cache', 'uniprof');
}

const runningAsRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

async function download(url: string, target: string): Promise<void> {
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    throw new Error(`downloading Elasticsearch from ${url} failed: HTTP ${response.status}`);
  }
  const partial = `${target}.part`;
  await pipeline(response.body, createWriteStream(partial));
  await rename(partial, target);
}

/** Test files may run in parallel: one of them downloads and unpacks while the others wait. */
function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  return withCacheLock(path.join(cacheRoot(), 'elasticsearch'), name, work);
}

/** The unpacked distribution, shared by every test; under root it lives where `nobody` can read it. */
async function installation(version: string): Promise<string> {
  return withLock(`install-${version}`, () => install(version));
}

/** One unpacked installation per version, side by side in the cache. */
async function install(version: string): Promise<string> {
  const downloads = path.join(cacheRoot(), 'elasticsearch');
  const zip = path.join(downloads, `elasticsearch-${version}.zip`);
  const home = runningAsRoot()
    ? path.join(os.tmpdir(), `uniprof-elasticsearch-${version}`)
    : path.join(downloads, version);
  const ready = path.join(home, '.uniprof-ready');
  if (existsSync(ready)) return path.join(home, `elasticsearch-${version}`);
  await mkdir(downloads, { recursive: true });
  if (!existsSync(zip)) {
    const url = distributionUrl(version);
    try {
      await download(url, zip);
    } catch (error) {
      throw new Error(
        `Elasticsearch test peer: cannot download ${url} (${(error as Error).message}); ` +
          `put the file at ${zip} by hand on an offline machine`,
        { cause: error },
      );
    }
  }
  await rm(home, { recursive: true, force: true });
  await mkdir(home, { recursive: true });
  await run('unzip', ['-q', zip, '-d', home]).catch((error: Error) => {
    throw new Error(
      `Elasticsearch test peer: unzip failed (is the unzip package installed?): ${error.message}`,
    );
  });
  await run('chmod', ['-R', 'a+rX', home]);
  await writeFile(ready, version);
  return path.join(home, `elasticsearch-${version}`);
}

/** A CA and a node certificate for 127.0.0.1, made once and reused. */
async function certificates(): Promise<string> {
  return withLock('certs', makeCertificates);
}

async function makeCertificates(): Promise<string> {
  const dir = path.join(cacheRoot(), 'elasticsearch', 'certs');
  if (existsSync(path.join(dir, 'node.crt'))) return dir;
  await mkdir(dir, { recursive: true });
  const openssl = (args: string[]) =>
    run('openssl', args, { cwd: dir }).catch((error: Error) => {
      throw new Error(`Elasticsearch test peer: openssl failed (is openssl installed?): ${error.message}`);
    });
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=uniprof test CA'].concat(
      ['-keyout', 'ca.key', '-out', 'ca.crt'],
    ),
  );
  await openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'node.key.tmp'].concat([
      '-out',
      'node.csr',
    ]),
  );
  await writeFile(path.join(dir, 'node.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(
    ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '3650',
      '-extfile',
      'node.ext',
      '-out',
      'node.crt.tmp',
    ]),
  );
  await rename(path.join(dir, 'node.key.tmp'), path.join(dir, 'node.key'));
  await rename(path.join(dir, 'node.crt.tmp'), path.join(dir, 'node.crt'));
  return dir;
}

function javaHome(): string {
  const configured = process.env.ES_JAVA_HOME ?? process.env.JAVA_HOME;
  if (configured) return configured;
  for (const candidate of ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/jvm/java-17-openjdk-arm64']) {
    if (existsSync(path.join(candidate, 'bin', 'java'))) return candidate;
  }
  throw new Error(
    'Elasticsearch test peer: no Java 17+ found; install openjdk-17-jre-headless or set ES_JAVA_HOME',
  );
}

function jsonRequest(
  url: string,
  caPem: string,
  method: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = https.request(
      url,
      {
        method,
        ca: caPem,
        auth: `${ELASTIC_USER}:${ELASTIC_PASSWORD}`,
        headers: payload ? { 'content-type': 'application/json' } : {},
        timeout: 30_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

class LocalElasticsearch implements ElasticsearchPeer {
  readonly username = ELASTIC_USER;
  readonly password = ELASTIC_PASSWORD;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly home: string,
    readonly version: string,
    private readonly instanceDir: string,
    private readonly port: number,
    readonly caPem: string,
    private readonly heap = '-Xms512m -Xmx1g',
  ) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const log = createWriteStream(path.join(this.instanceDir, 'console.log'), { flags: 'a' });
    const executable = path.join(this.home, 'bin', 'elasticsearch');
    const [command, args] = runningAsRoot()
      ? ['setpriv', [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_GID}`, '--clear-groups', '--', executable]]
      : [executable, []];
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ES_JAVA_HOME: javaHome(),
        ES_PATH_CONF: path.join(this.instanceDir, 'config'),
        ES_JAVA_OPTS: this.heap,
        ES_TMPDIR: path.join(this.instanceDir, 'tmp'),
      },
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    await this.waitUntilHealthy();
  }

  private async waitUntilHealthy(): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (!this.child) {
        const console = await readFile(path.join(this.instanceDir, 'console.log'), 'utf8').catch(() => '');
        throw new Error(`Elasticsearch exited while starting:\n${console.slice(-3000)}`);
      }
      try {
        const health = await this.request('GET', '/_cluster/health?wait_for_status=yellow&timeout=5s');
        if (health.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await this.stop();
    throw new Error(`Elasticsearch did not become healthy within 120 s; see ${this.instanceDir}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const group = -child.pid;
    try {
      process.kill(group, 'SIGTERM');
    } catch {
      // already gone
    }
    const killed = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 30_000);
    await this.exited;
    clearTimeout(killed);
    this.child = undefined;
  }

  /** Kills the node at once (SIGKILL), as a crash or the OOM killer would; its data stays. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await this.exited;
    this.child = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.instanceDir, { recursive: true, force: true });
  }

  request(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return jsonRequest(`${this.url}${urlPath}`, this.caPem, method, body);
  }
}

/** How a node finds its cluster: alone (`discovery.type: single-node`), or among seed nodes. */
type Discovery =
  | { kind: 'single-node' }
  | { kind: 'cluster'; nodeName: string; seedTransportPorts: number[]; initialMasterNodes: string[] };

function discoverySettings(discovery: Discovery): string[] {
  if (discovery.kind === 'single-node') return ['node.name: uniprof-test', 'discovery.type: single-node'];
  return [
    `node.name: ${discovery.nodeName}`,
    `discovery.seed_hosts: [${discovery.seedTransportPorts.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`,
    `cluster.initial_master_nodes: [${discovery.initialMasterNodes.map((n) => `"${n}"`).join(', ')}]`,
    // Nodes of a cluster talk TLS to each other, as security requires outside single-node mode.
    'xpack.security.transport.ssl.enabled: true',
    'xpack.security.transport.ssl.verification_mode: certificate',
    'xpack.security.transport.ssl.key: node.key',
    'xpack.security.transport.ssl.certificate: node.crt',
    'xpack.security.transport.ssl.certificate_authorities: ["ca.crt"]',
  ];
}

async function prepareInstance(
  home: string,
  version: string,
  port: number,
  transportPort: number,
  discovery: Discovery = { kind: 'single-node' },
): Promise<string> {
  const instanceDir = await mkdtemp(path.join(os.tmpdir(), 'uniprof-es-'));
  const config = path.join(instanceDir, 'config');
  await cp(path.join(home, 'config'), config, { recursive: true });
  const certs = await certificates();
  for (const file of ['ca.crt', 'node.crt', 'node.key'])
    await cp(path.join(certs, file), path.join(config, file));
  await writeFile(
    path.join(config, 'elasticsearch.yml'),
    [
      'cluster.name: uniprof-test',
      'network.host: 127.0.0.1',
      `http.port: ${port}`,
      `transport.port: ${transportPort}`,
      ...discoverySettings(discovery),
      `path.data: ${path.join(instanceDir, 'data')}`,
      `path.logs: ${path.join(instanceDir, 'logs')}`,
      'xpack.security.enabled: true',
      'xpack.security.http.ssl.enabled: true',
      'xpack.security.http.ssl.key: node.key',
      'xpack.security.http.ssl.certificate: node.crt',
      'xpack.security.http.ssl.certificate_authorities: ["ca.crt"]',
      // A test node on a shared machine: the disk may be fuller than production watermarks allow.
      'cluster.routing.allocation.disk.threshold_enabled: false',
      'action.destructive_requires_name: false',
      '',
    ].join('\n'),
  );
  for (const dir of ['data', 'logs', 'tmp']) await mkdir(path.join(instanceDir, dir));
  await pointJvmFilesIntoInstance(config, instanceDir);
  await cp(await keystore(home, version), path.join(config, 'elasticsearch.keystore'));
  if (runningAsRoot()) await chownTree(instanceDir);
  return instanceDir;
}

/**
 * 8.12's jvm.options write the GC log, crash logs and heap dumps under logs/ and data/ of the installation
 * (8.19's are relative to path.logs), which `nobody` may not write to and which test nodes would share:
 * point them into the instance's own directories.
 */
async function pointJvmFilesIntoInstance(config: string, instanceDir: string): Promise<void> {
  const file = path.join(config, 'jvm.options');
  const options = await readFile(file, 'utf8');
  await writeFile(
    file,
    options
      .replaceAll('file=logs/', `file=${path.join(instanceDir, 'logs')}/`)
      .replace('-XX:ErrorFile=logs/', `-XX:ErrorFile=${path.join(instanceDir, 'logs')}/`)
      .replace('-XX:HeapDumpPath=data', `-XX:HeapDumpPath=${path.join(instanceDir, 'data')}`),
  );
}

/**
 * A keystore holding the superuser's first password, which is how a fresh install is usually set up. Made
 * once (two JVM start-ups) and copied into each instance.
 */
async function keystore(home: string, version: string): Promise<string> {
  return withLock(`keystore-${version}`, () => makeKeystore(home, version));
}

async function makeKeystore(home: string, version: string): Promise<string> {
  const dir = path.join(cacheRoot(), 'elasticsearch', `keystore-${version}`);
  const file = path.join(dir, 'elasticsearch.keystore');
  if (existsSync(file)) return file;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'uniprof-es-keystore-'));
  const env = { ...process.env, ES_JAVA_HOME: javaHome(), ES_PATH_CONF: scratch };
  const tool = path.join(home, 'bin', 'elasticsearch-keystore');
  await run(tool, ['create'], { env });
  const add = spawn(tool, ['add', '-x', 'bootstrap.password'], { env, stdio: ['pipe', 'ignore', 'inherit'] });
  add.stdin?.end(ELASTIC_PASSWORD);
  await new Promise<void>((resolve, reject) =>
    add.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`elasticsearch-keystore add: exit ${code}`)),
    ),
  );
  await mkdir(dir, { recursive: true });
  await cp(path.join(scratch, 'elasticsearch.keystore'), `${file}.tmp`);
  await rename(`${file}.tmp`, file);
  await rm(scratch, { recursive: true, force: true });
  return file;
}

async function chownTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  await chown(dir, NOBODY_UID, NOBODY_GID);
  await run('chown', ['-R', `${NOBODY_UID}:${NOBODY_GID}`, dir]);
}

export interface ElasticsearchPeerOptions {
  /**
   * An integration-test archive version on Maven Central; unless given, $UNIPROF_ELASTICSEARCH_VERSION or
   * else ELASTICSEARCH_VERSION.
   */
  readonly version?: string;
}

/** Downloads (first time only), configures and starts a single-node cluster; call `dispose()` when done. */
export async function startElasticsearch(options: ElasticsearchPeerOptions = {}): Promise<ElasticsearchPeer> {
  const version = options.version ?? process.env[VERSION_VARIABLE] ?? ELASTICSEARCH_VERSION;
  const home = await installation(version);
  const [port, transportPort] = [await freePort(), await freePort()];
  const instanceDir = await prepareInstance(home, version, port, transportPort);
  const caPem = await readFile(path.join(instanceDir, 'config', 'ca.crt'), 'utf8');
  const peer = new LocalElasticsearch(home, version, instanceDir, port, caPem);
  await peer.start();
  return peer;
}

/** One node of a cluster started by `startElasticsearchCluster`. */
export interface ElasticsearchNode {
  readonly name: string;
  /** https://127.0.0.1:PORT, this node's HTTP address. */
  readonly url: string;
  readonly running: boolean;
}

export type ClusterHealthStatus = 'green' | 'yellow' | 'red';

export interface ElasticsearchCluster {
  readonly version: string;
  readonly nodes: readonly ElasticsearchNode[];
  /** Every node's HTTP address, in node order: what a client configured with all of them is given. */
  readonly urls: string[];
  readonly username: string;
  readonly password: string;
  readonly caPem: string;
  /** Kills a node at once (SIGKILL), keeping its data directory. */
  kill(node: number): Promise<void>;
  /** Starts a stopped or killed node again on its ports and data directory; resolves once it has rejoined. */
  restart(node: number): Promise<void>;
  /** Waits until the cluster reports `status` (or better) with `nodes` nodes in it. */
  waitForHealth(status: ClusterHealthStatus, nodes: number, timeoutMs?: number): Promise<ClusterHealth>;
  /** The cluster's health as one running node sees it. */
  health(): Promise<ClusterHealth>;
  /** A JSON request as the superuser to the first running node. */
  request(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Stops every node and deletes their data. */
  dispose(): Promise<void>;
}

export interface ClusterHealth {
  status: ClusterHealthStatus;
  number_of_nodes: number;
  unassigned_shards: number;
  active_shards: number;
}

export interface ElasticsearchClusterOptions extends ElasticsearchPeerOptions {
  /** Nodes in the cluster (default 3). */
  readonly nodes?: number;
  /** JVM heap of each node (default 448 MiB: three nodes with the collector and tests fit a small machine). */
  readonly heapMiB?: number;
}

class LocalElasticsearchCluster implements ElasticsearchCluster {
  readonly username = ELASTIC_USER;
  readonly password = ELASTIC_PASSWORD;

  constructor(
    readonly version: string,
    private readonly members: readonly LocalElasticsearch[],
    readonly nodes: readonly ElasticsearchNode[],
    readonly caPem: string,
  ) {}

  get urls(): string[] {
    return this.members.map((member) => member.url);
  }

  private member(node: number): LocalElasticsearch {
    const member = this.members[node];
    if (!member) throw new Error(`no node ${node} in a cluster of ${this.members.length}`);
    return member;
  }

  async kill(node: number): Promise<void> {
    await this.member(node).kill();
  }

  async restart(node: number): Promise<void> {
    // start() waits for a yellow cluster as this node sees it, which it can only once it has rejoined.
    await this.member(node).start();
  }

  async health(): Promise<ClusterHealth> {
    const { status, body } = await this.request('GET', '/_cluster/health');
    if (status !== 200) throw new Error(`cluster health: HTTP ${status} ${JSON.stringify(body)}`);
    return body as ClusterHealth;
  }

  async waitForHealth(
    status: ClusterHealthStatus,
    nodes: number,
    timeoutMs = 120_000,
  ): Promise<ClusterHealth> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const response = await this.request(
          'GET',
          `/_cluster/health?wait_for_status=${status}&wait_for_nodes=${nodes}&timeout=5s`,
        );
        last = response.body;
        if (response.status === 200 && !(response.body as { timed_out?: boolean }).timed_out)
          return response.body as ClusterHealth;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the cluster did not become ${status} with ${nodes} nodes: ${JSON.stringify(last)}`);
  }

  request(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const member = this.members.find((candidate) => candidate.running);
    if (!member) throw new Error('no node of the cluster is running');
    return member.request(method, urlPath, body);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.members.map((member) => member.dispose()));
  }
}

/**
 * Downloads (first time only), configures and starts an N-node cluster on 127.0.0.1: each node master-eligible
 * and a data node, with its own HTTP and transport ports and data directory, TLS between nodes. Resolves once
 * every node has joined and the cluster is green; call `dispose()` when done.
 */
export async function startElasticsearchCluster(
  options: ElasticsearchClusterOptions = {},
): Promise<ElasticsearchCluster> {
  const version = options.version ?? process.env[VERSION_VARIABLE] ?? ELASTICSEARCH_VERSION;
  const count = options.nodes ?? 3;
  const heap = options.heapMiB ?? 448;
  const home = await installation(version);
  const ports: { http: number; transport: number }[] = [];
  for (let i = 0; i < count; i++) ports.push({ http: await freePort(), transport: await freePort() });
  const names = ports.map((_, i) => `uniprof-node-${i}`);
  const members: LocalElasticsearch[] = [];
  for (const [i, { http, transport }] of ports.entries()) {
    const instanceDir = await prepareInstance(home, version, http, transport, {
      kind: 'cluster',
      nodeName: names[i],
      seedTransportPorts: ports.map((p) => p.transport),
      initialMasterNodes: names,
    });
    const caPem = await readFile(path.join(instanceDir, 'config', 'ca.crt'), 'utf8');
    members.push(
      new LocalElasticsearch(home, version, instanceDir, http, caPem, `-Xms${heap}m -Xmx${heap}m`),
    );
  }
  const nodes = members.map((member, i) => ({
    name: names[i],
    url: member.url,
    get running() {
      return member.running;
    },
  }));
  const cluster = new LocalElasticsearchCluster(version, members, nodes, members[0].caPem);
  try {
    // Together: each waits for a yellow cluster, which needs a master, which needs a quorum of them.
    await Promise.all(members.map((member) => member.start()));
    await cluster.waitForHealth('green', count);
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}
