import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);

const tlsSchema = z
  .object({
    /** Both files are watched: a renewed pair is served to new connections without a restart. */
    cert: z.string().describe('PEM certificate file'),
    key: z.string().describe('PEM private key file'),
  })
  .strict();

const elasticsearchSchema = z
  .object({
    hosts: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.split(',').map((h) => h.trim()) : v),
        z.array(z.url()).min(1),
      )
      .prefault(['http://127.0.0.1:9200']),
    apiKey: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z
      .object({
        ca: z.string().optional().describe('PEM CA file to trust'),
        verify: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Replicas of every profiling index: a count, or an auto-expand range such as `0-1` or `0-all`. */
    replicas: z
      .union([
        z.number().int().min(0),
        z.string().regex(/^\d+-(\d+|all)$/, 'a replica count or an auto-expand range such as 0-1 or 0-all'),
      ])
      .default('0-1'),
    /** Where acknowledged batches wait while Elasticsearch is out of reach; defaults under dataDir. */
    spoolDir: z.string().optional(),
    spoolMaxBytes: z
      .number()
      .int()
      .positive()
      .default(1024 ** 3),
    /**
     * When a bulk request goes out: once `maxBytes` are waiting or the oldest waiting document is `maxAgeMs`
     * old. A longer age means fewer, larger bulk requests (less Elasticsearch CPU per sample for a steady
     * fleet) and documents searchable that much later.
     */
    bulk: z
      .object({
        maxBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .default(5 * 1024 ** 2),
        maxAgeMs: z.number().int().min(10).max(60_000).default(1000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const configSchema = z
  .object({
    dataDir: z.string().default('./data'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    collector: z
      .object({
        grpc: z
          .object({
            host: z.string().default('127.0.0.1'),
            port: port.default(4317),
            maxMessageBytes: z
              .number()
              .int()
              .positive()
              .default(32 * 1024 * 1024),
            tls: tlsSchema.optional(),
          })
          .strict()
          .prefault({}),
        http: z
          .object({
            host: z.string().default('127.0.0.1'),
            port: port.default(4318),
            maxBodyBytes: z
              .number()
              .int()
              .positive()
              .default(32 * 1024 * 1024),
            tls: tlsSchema.optional(),
          })
          .strict()
          .prefault({}),
        auth: z
          .object({
            secretToken: z.string().min(1).optional(),
            /** Accept agents without a token. Only ever on when asked for explicitly. */
            disabled: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
        /** Keep a copy of every acknowledged request as `NNNNNNNNN.binpb` in `dir` (off unless set). */
        record: z
          .object({
            dir: z.string().min(1).optional(),
            maxBytes: z
              .number()
              .int()
              .positive()
              .default(256 * 1024 * 1024),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** The query API and the web UI: their own listener (agents' ports carry no profiles), and who may read. */
    api: z
      .object({
        http: z
          .object({
            host: z.string().default('127.0.0.1'),
            port: port.default(4320),
            /** HTTPS for the UI and API (the session cookie is then Secure). */
            tls: tlsSchema.optional(),
            /**
             * Behind a reverse proxy: believe its X-Forwarded-For/-Proto (`true`, or the proxy's addresses/CIDRs,
             * comma-separated), so the login rate limit counts readers, not the proxy, and the cookie is Secure
             * when readers came over HTTPS.
             */
            trustProxy: z.union([z.boolean(), z.string().min(1)]).default(false),
          })
          .strict()
          .prefault({}),
        auth: z
          .object({
            /** Serve the UI and API to anyone who reaches the port. Only ever on when asked for explicitly. */
            disabled: z.boolean().default(false),
            /**
             * User name → scrypt password hash (`uniprof hash-password`). With none, the first start generates
             * a password for the user "admin" into <dataDir>/admin-password.
             */
            users: z.record(z.string().min(1), z.string().min(1)).default({}),
            /** Bearer tokens that may read (never ingest). With none, one is generated into <dataDir>/read-token. */
            tokens: z
              .preprocess(
                (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
                z.array(z.string().min(16, 'a read token must be at least 16 characters long')),
              )
              .prefault([]),
            /**
             * Logged-in users who may change the server-wide settings (CO2 and cost factors) on the Settings
             * page and PUT /api/settings; everyone else reads them. With reader auth disabled anyone may.
             */
            settingsEditors: z
              .preprocess(
                (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
                z.array(z.string().min(1)),
              )
              .prefault([]),
            /** How long a browser stays logged in. */
            sessionHours: z
              .number()
              .positive()
              .max(24 * 365)
              .default(12),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    output: z
      .object({
        /** `embedded` (one DuckDB file under dataDir) or `elasticsearch`. */
        type: z.enum(['embedded', 'elasticsearch']).default('embedded'),
        embedded: z
          .object({
            path: z.string().optional().describe('database file; default <dataDir>/uniprof.duckdb'),
            /** Least time between two commits while writes keep coming (group commit); 0 commits at once. */
            commitIntervalMs: z.number().int().min(0).max(10_000).default(50),
            /** Waiting events that start the next commit without waiting for the interval. */
            commitEventThreshold: z.number().int().positive().default(50_000),
            /** DuckDB's memory limit (`256MB`, `1GiB`); past it queries spill to disk next to the file. */
            memoryLimit: z
              .string()
              .regex(/^\d+(\.\d+)?\s*[KMGT]i?B$/i, 'a size such as 256MB or 1GiB')
              .default('256MB'),
            /** DuckDB's worker threads. */
            threads: z.number().int().positive().max(256).default(2),
            /** Deleting old events and collecting what only they referenced (see store/embedded/retention.ts). */
            retention: z
              .object({
                /** Events older than this many days are deleted; 0 keeps everything. */
                days: z.number().int().min(0).max(36_500).default(30),
                /** Time between two runs (the first runs 10 s after start). */
                intervalMinutes: z.number().int().positive().max(10_080).default(60),
                /** Rows one transaction deletes at most: bounds how long writes and queries wait for it. */
                batchRows: z.number().int().positive().max(10_000_000).default(10_000),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
        elasticsearch: elasticsearchSchema.prefault({}),
      })
      .strict()
      .prefault({}),
    /** The symbolizer service: where it finds symbols for native frames and how it works through the queue. */
    symbolizer: z
      .object({
        /** Run the symbolizer inside `uniprof serve` (the standalone `uniprof symbolizer` ignores this). */
        enabled: z.boolean().default(true),
        http: z
          .object({
            host: z.string().default('127.0.0.1'),
            port: port.default(4319),
            /** HTTPS for the symbol upload endpoint (`symbtool push-symbols` then takes an https:// URL). */
            tls: tlsSchema.optional(),
          })
          .strict()
          .prefault({}),
        /** Token that `symbtool push-symbols` presents; generated into <dataDir>/symbol-upload-token if unset. */
        uploadToken: z.string().min(1).optional(),
        /** Largest symbol upload accepted, in bytes (after decompression). */
        maxUploadBytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024 * 1024),
        /** Separate debug files looked up on this machine (by build ID, then .gnu_debuglink). */
        debugDirectories: z
          .preprocess(
            (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
            z.array(z.string()),
          )
          .prefault(['/usr/lib/debug']),
        debuginfod: z
          .object({
            /** Servers asked by GNU build ID, in order (like DEBUGINFOD_URLS: space- or comma-separated). */
            urls: z
              .preprocess(
                (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
                z.array(z.url()),
              )
              .prefault([]),
            timeoutMs: z.number().int().positive().default(30_000),
            retries: z.number().int().min(0).max(10).default(2),
            maxConcurrent: z.number().int().positive().default(4),
            /**
             * While a server cannot be asked (connection refused, timeout, 5xx), it is probed this often; once it
             * answers, executables waiting for it are retried at once rather than after their backoff.
             */
            probeIntervalMs: z.number().int().positive().default(10_000),
            /** How long a "not found" answer is believed before the server is asked again. */
            negativeCacheSeconds: z.number().int().min(0).default(3600),
            /** Downloaded debug files; default <dataDir>/debuginfod-cache. */
            cacheDir: z.string().optional(),
            cacheMaxBytes: z
              .number()
              .int()
              .positive()
              .default(10 * 1024 ** 3),
          })
          .strict()
          .prefault({}),
        /** Executables worked on at once. */
        concurrency: z.number().int().positive().max(64).default(2),
        /**
         * Memory (estimated bytes) for the worker's copy of hot files' symbol ranges, so new frames of a
         * symbolized executable are answered without searching the store; 0 turns it off.
         */
        rangeCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(128 * 1024 * 1024),
        /** How often the queue is polled when idle. */
        pollIntervalMs: z.number().int().positive().default(500),
        /** A worker's claim on an executable; a crashed worker's work is taken up again after this. */
        leaseSeconds: z.number().int().positive().default(300),
        /** Backoff between attempts for a file whose symbols were not found: doubles from first to max. */
        retry: z
          .object({
            firstSeconds: z.number().int().positive().default(60),
            maxSeconds: z
              .number()
              .int()
              .positive()
              .default(6 * 3600),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /**
     * Factors for the CPU-time, cost and CO2 estimates; the defaults are those of Elastic's profiling app. These
     * are the defaults of the Settings page, where an editor (api.auth.settingsEditors) may override them.
     */
    query: z
      .object({
        samplingFrequencyHz: z.number().positive().default(20),
        costPerCoreHourUsd: z.number().nonnegative().default(0.0425),
        co2TonsPerKwh: z.number().nonnegative().default(0.000379069),
        datacenterPue: z.number().positive().default(1.7),
        wattsPerCoreX86: z.number().positive().default(7),
        wattsPerCoreArm64: z.number().positive().default(2.8),
        /** Percent off the cost per core-hour for hosts on AWS (EDP) and Azure (Enterprise Agreement). */
        awsCostDiscountPercent: z.number().min(0).max(100).default(0),
        azureCostDiscountPercent: z.number().min(0).max(100).default(0),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Every leaf path of the configuration, from the defaults: what env vars and `--set` may name. */
function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

/** `collector.grpc.maxMessageBytes` → `UNIPROF_COLLECTOR_GRPC_MAX_MESSAGE_BYTES`. */
export function envName(path: readonly string[]): string {
  return `UNIPROF_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

/** Paths that have no default and so are not found by walking the defaults. */
const OPTIONAL_PATHS = [
  ['collector', 'auth', 'secretToken'],
  ['collector', 'record', 'dir'],
  ['api', 'auth', 'users'],
  ['collector', 'grpc', 'tls', 'cert'],
  ['collector', 'grpc', 'tls', 'key'],
  ['collector', 'http', 'tls', 'cert'],
  ['collector', 'http', 'tls', 'key'],
  ['api', 'http', 'tls', 'cert'],
  ['api', 'http', 'tls', 'key'],
  ['symbolizer', 'http', 'tls', 'cert'],
  ['symbolizer', 'http', 'tls', 'key'],
  ['output', 'embedded', 'path'],
  ['output', 'elasticsearch', 'apiKey'],
  ['output', 'elasticsearch', 'username'],
  ['output', 'elasticsearch', 'password'],
  ['output', 'elasticsearch', 'tls', 'ca'],
  ['output', 'elasticsearch', 'spoolDir'],
  ['symbolizer', 'uploadToken'],
  ['symbolizer', 'debuginfod', 'cacheDir'],
];

export function knownPaths(): string[][] {
  return [...leafPaths(configSchema.parse({})), ...OPTIONAL_PATHS];
}

/** Env vars and flags arrive as text; YAML's scalar rules turn them into numbers, booleans and lists. */
function parseScalar(text: string): unknown {
  try {
    return parseYaml(text) ?? text;
  } catch {
    return text;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

export interface ConfigSources {
  /** A YAML file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** `dotted.path=value` overrides, from flags; these win over env, which wins over the file. */
  overrides?: readonly string[];
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const raw: Record<string, unknown> = sources.file ? readYamlFile(sources.file) : {};
  const paths = new Map(knownPaths().map((p) => [p.join('.'), p]));
  const env = sources.env ?? {};
  for (const path of paths.values()) {
    const value = env[envName(path)];
    if (value !== undefined && value !== '') setPath(raw, path, parseScalar(value));
  }
  for (const override of sources.overrides ?? []) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set wants path=value, got "${override}"`);
    const key = override.slice(0, eq).trim();
    const path = paths.get(key);
    if (!path) throw new ConfigError(`unknown configuration key "${key}"`);
    setPath(raw, path, parseScalar(override.slice(eq + 1)));
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold a mapping at the top level`);
  }
  return value as Record<string, unknown>;
}
