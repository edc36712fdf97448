import { join, resolve } from 'node:path';
import {
  registerQueryApi,
  registerReaderAuth,
  registerSetupRoute,
  registerUi,
  symbolUploadTarget,
  type AgentEndpoints,
} from '../api/index.ts';
import { AGENT_VERSION } from '../loadgen/index.ts';
import { createCollector, type Collector } from '../collector/collector.ts';
import { DEFAULT_COLLECTOR_OPTIONS } from '../collector/options.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from 'pino';
import type { RetentionInfo } from '../api/storage.ts';
import { EmbeddedStore } from '../store/embedded/index.ts';
import { ILM_DELETE_DAYS, ILM_POLICY } from '../store/elasticsearch/layout.ts';
import { RetentionJob } from '../store/embedded/retention.ts';
import { createStore, describeStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import type { SymbolUploadTarget } from '../query/missing-symbols.ts';
import { createApiServer, type ApiServer } from './api-server.ts';
import { createLogger } from './logger.ts';
import { resolveReaderAccess } from './reader-access.ts';
import { resolveSecretToken } from './secret-token.ts';
import { startSymbolizerService, symbolizerBanner, type StartedSymbolizer } from './symbolizer-service.ts';

export interface ServerRun {
  collector: Collector;
  api: ApiServer;
  /** The in-process symbolizer (`uniprof serve` with symbolizer.enabled). */
  symbolizer?: StartedSymbolizer;
  stop(): Promise<void>;
}

/**
 * Starts the collector (agents' ports) and the web UI and query API (behind reader authentication, on their own
 * port), prints where everything is, and stops cleanly on SIGTERM/SIGINT: listeners close, acknowledged data
 * is flushed, the process exits 0.
 */
export async function runServer(
  config: Config,
  options: { title: string; symbolizer?: boolean },
): Promise<ServerRun> {
  const logger = createLogger(config.log.level);
  const { token, generatedAt } = resolveSecretToken(
    config.collector.auth.secretToken,
    config.collector.auth.disabled,
    config.dataDir,
  );
  const readers = await resolveReaderAccess(config, token);
  const store = createStore(config, logger);
  const collector = createCollector(
    { ...config.collector, auth: { secretToken: token, disabled: config.collector.auth.disabled } },
    store,
    logger,
  );
  const api = createApiServer(config.api.http, collector, logger);
  await registerReaderAuth(api.app, readers.access);
  if (!readers.access.enabled) {
    logger.warn('reader authentication is disabled: anyone who reaches the API port reads every profile');
  }
  // The hints' upload command names the symbolizer's port once it is bound (port 0: the system picks it).
  const symbolUpload = symbolUploadTarget(config);
  await registerQueryApi(api.app, {
    store,
    options: {
      impact: config.query,
      settingsEditors: config.api.auth.settingsEditors,
      symbolUpload,
      retention: retentionInfo(config),
    },
  });
  // The agents' ports are known once the collector has bound them.
  const bound: { endpoints?: AgentEndpoints } = {};
  registerSetupRoute(api.app, () => bound.endpoints);
  await registerUi(api.app);
  const addresses = await collector.start();
  const retention = startRetention(config, store, collector, logger);
  bound.endpoints = agentEndpoints(config, addresses, token, generatedAt, symbolUpload);
  const shutdownMs = DEFAULT_COLLECTOR_OPTIONS.shutdownTimeoutMs;
  let apiAddress: string;
  try {
    apiAddress = await api.start();
  } catch (error) {
    await collector.stop();
    throw new Error(
      `cannot listen for the web UI and API on ${config.api.http.host}:${config.api.http.port} (api.http): ${(error as Error).message}`,
      { cause: error },
    );
  }
  // The symbolizer shares the collector's store (one DuckDB file can be open in one process only): the
  // collector opens and closes it, the symbolizer starts after it and stops before it.
  let symbolizer: StartedSymbolizer | undefined;
  if (options.symbolizer && config.symbolizer.enabled) {
    try {
      symbolizer = await startSymbolizerService(config, store, logger, false);
      Object.assign(symbolUpload, symbolUploadTarget(config, portOf(symbolizer.httpAddress)));
    } catch (error) {
      await api.stop(shutdownMs);
      await collector.stop();
      throw error;
    }
  }

  const { httpAddress, grpcAddress } = addresses;
  console.log(`${options.title} is running`);
  console.log(`  web UI      ${apiAddress}/`);
  const loginLine = readers.loginLine(apiAddress);
  if (loginLine) console.log(loginLine);
  console.log(`  query API   ${apiAddress}/api  (OpenAPI: ${apiAddress}/api/openapi.yaml)`);
  console.log(`  OTLP gRPC   ${grpcAddress}${config.collector.grpc.tls ? ' (TLS)' : ''}`);
  console.log(`  OTLP HTTP   ${httpAddress}/v1development/profiles`);
  console.log(`  health      ${httpAddress}/health  metrics: ${httpAddress}/metrics  (also on the UI port)`);
  if (symbolizer) for (const line of symbolizerBanner(symbolizer)) console.log(line);
  else if (options.symbolizer) console.log('  symbolizer  disabled (symbolizer.enabled)');
  console.log(`  store       ${describeStore(config)}`);
  if (config.collector.auth.disabled) console.log('  agent auth  disabled');
  else console.log(`  agent auth  bearer token${generatedAt ? ` (in ${generatedAt})` : ''}`);
  console.log(readers.authLine);
  console.log(`  data dir    ${join(config.dataDir)}`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (retention?.stop() ?? Promise.resolve())
      .then(() => symbolizer?.service.stop())
      .then(() => api.stop(shutdownMs))
      .then(() => collector.stop())
      .then(
        () => logger.info('stopped cleanly'),
        (error: unknown) => {
          logger.error({ err: error }, 'stop failed');
          process.exitCode = 1;
        },
      ));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop());
  return { collector, api, symbolizer, stop };
}

/** The retention in force, as the storage explorer shows it. */
function retentionInfo(config: Config): RetentionInfo {
  if (config.output.type === 'elasticsearch')
    return {
      days: ILM_DELETE_DAYS,
      enforcedBy: `the ILM policy ${ILM_POLICY} (only where the cluster has ILM; see docs/elasticsearch.md)`,
    };
  const { days, intervalMinutes } = config.output.embedded.retention;
  return days === 0
    ? { days: null, enforcedBy: 'nothing: output.embedded.retention.days is 0 (kept for ever)' }
    : { days, enforcedBy: `the embedded store's retention job, every ${intervalMinutes} minutes` };
}

/**
 * The embedded store's retention job, in the process that owns the store; Elasticsearch stores have ILM for
 * that (docs/elasticsearch.md).
 */
function startRetention(
  config: Config,
  store: Store,
  collector: Collector,
  logger: Logger,
): RetentionJob | undefined {
  if (!(store instanceof EmbeddedStore) || config.output.embedded.retention.days === 0) return undefined;
  const job = new RetentionJob(store, config.output.embedded.retention, {
    logger: logger.child({ component: 'retention' }),
    registry: collector.metrics.registry,
    forget: (ids) => collector.forgetStored(ids),
  });
  job.start();
  return job;
}

/** Where agents send profiles, as bound, for the "Add data" instructions. */
function agentEndpoints(
  config: Config,
  addresses: { grpcAddress: string; httpAddress: string },
  token: string | undefined,
  tokenFile: string | undefined,
  symbolUpload: SymbolUploadTarget,
): AgentEndpoints {
  return {
    grpc: {
      host: config.collector.grpc.host,
      port: portOf(addresses.grpcAddress),
      tls: config.collector.grpc.tls !== undefined,
    },
    otlpHttp: {
      host: config.collector.http.host,
      port: portOf(addresses.httpAddress),
      tls: config.collector.http.tls !== undefined,
    },
    token: token === undefined ? undefined : { value: token, file: tokenFile && resolve(tokenFile) },
    agentVersion: AGENT_VERSION,
    symbolUpload,
  };
}

/** The port of a bound address (`host:port` or `http://host:port`). */
function portOf(address: string): number {
  return Number(/:(\d+)\/?$/.exec(address)?.[1] ?? 0);
}
