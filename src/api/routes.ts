import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProfilingQueries, UNKNOWN_UPLOAD_TARGET, pushSymbolsCommand } from '../query/index.ts';
import { DEFAULT_IMPACT_FACTORS, type ImpactFactors } from '../query/impact.ts';
import type { SymbolUploadTarget } from '../query/missing-symbols.ts';
import { UnknownFrameError } from '../query/actions.ts';
import { QueryError } from '../query/run.ts';
import {
  StoreBusyError,
  StoreUnavailableError,
  UnsupportedFilterError,
  UnsupportedGroupByError,
  type SettingsStore,
  type StoreHealth,
  type StoreReader,
} from '../store/store.ts';
import { requireReaderAuth } from './auth/require.ts';
import { registerElasticCompat } from './elastic-compat.ts';
import {
  BadRequestError,
  intParam,
  listParam,
  parseActions,
  parseField,
  parseTime,
  toProfileQuery,
} from './params.ts';
import { ImpactSettings, registerSettingsRoutes } from './settings.ts';
import { registerStorageRoute, type RetentionInfo } from './storage.ts';
import { readBacklog, type BacklogSource, type StatusResponse } from './symbolization.ts';

export interface QueryApiOptions {
  /**
   * CO2 and cost factors; defaults are those of Elastic's profiling app. These are the defaults of the Settings
   * page: the factors changed there (kept in the store) override them.
   */
  impact?: Partial<ImpactFactors>;
  /** Logged-in users who may change the settings (`api.auth.settingsEditors`). */
  settingsEditors?: readonly string[];
  /** How long a server trusts the settings it read before asking the store again (other servers may change them). */
  settingsCacheMs?: number;
  /** The clock, in epoch seconds (tests pin it). */
  now?: () => number;
  /**
   * The symbolizer's URL and where its upload token is (see `symbolUploadTarget`), named in the hints of
   * native frames without symbols; placeholders when not given.
   */
  symbolUpload?: SymbolUploadTarget;
  /** Longest wait for the store's symbolization backlog before the status says it is unavailable. */
  backlogTimeoutMs?: number;
  /** The retention in force, for the storage explorer (`GET /api/storage`). */
  retention?: RetentionInfo;
}

export interface QueryApiDeps {
  /** With its symbolization queue when it has one (a `Store` does): the status reports its backlog. */
  store: StoreReader & SettingsStore & { readonly symbolization?: BacklogSource; health?(): StoreHealth };
  options?: QueryApiOptions;
}

type Query = Record<string, unknown>;

const openApiPath = fileURLToPath(new URL('./openapi.yaml', import.meta.url));

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (
    error instanceof BadRequestError ||
    error instanceof QueryError ||
    error instanceof UnsupportedFilterError ||
    error instanceof UnsupportedGroupByError
  ) {
    return reply.code(400).send({ error: 'bad_request', message: error.message });
  }
  if (error instanceof UnknownFrameError) {
    return reply.code(404).send({ error: 'not_found', message: error.message });
  }
  if (error instanceof StoreBusyError) {
    return reply.code(429).send({ error: 'busy', message: error.message });
  }
  if (error instanceof StoreUnavailableError) {
    return reply.code(503).send({ error: 'unavailable', message: error.message });
  }
  reply.log.error({ err: error }, 'query failed');
  return reply.code(500).send({ error: 'internal', message: (error as Error).message ?? String(error) });
}

/** Wraps a handler so every failure becomes a JSON error with the right status, never a crash. */
function handle(
  work: (query: Query, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (request, reply) => {
    try {
      return await work((request.query ?? {}) as Query, request, reply);
    } catch (error) {
      return sendError(reply, error);
    }
  };
}

/** Registers the query API under `/api` on a fastify instance (the collector's or a test's), after registerReaderAuth. */
export async function registerQueryApi(app: FastifyInstance, deps: QueryApiDeps): Promise<void> {
  requireReaderAuth(app, 'the query API');
  const uploadTarget = deps.options?.symbolUpload ?? UNKNOWN_UPLOAD_TARGET;
  const backlogTimeoutMs = deps.options?.backlogTimeoutMs ?? 5000;
  const settings = new ImpactSettings(
    deps.store,
    { ...DEFAULT_IMPACT_FACTORS, ...deps.options?.impact },
    { cacheMs: deps.options?.settingsCacheMs },
  );
  const queries = new ProfilingQueries(deps.store, () => settings.current(), uploadTarget);
  const now = deps.options?.now ?? (() => Math.floor(Date.now() / 1000));
  const groupByParam = (query: Query) =>
    query.groupBy !== undefined && query.groupBy !== ''
      ? parseField(String(query.groupBy), 'groupBy')
      : undefined;

  app.get(
    '/api/flamegraph',
    handle(async (query) => {
      const profile = toProfileQuery(query, '', now());
      const groupBy = groupByParam(query);
      const format = query.format ?? 'compact';
      const actions = parseActions(query);
      if (format === 'elastic') return queries.elasticFlamegraph(profile, groupBy, {}, actions);
      if (format !== 'compact')
        throw new BadRequestError(`format: must be "compact" or "elastic", got "${String(format)}"`);
      return queries.flamegraph(profile, groupBy, actions);
    }),
  );

  app.get(
    '/api/sandwich',
    handle(async (query) => {
      const frame = listParam(query.frame);
      if (frame.length !== 1)
        throw new BadRequestError('frame: give the key of one function (the `id` of a top-functions entry)');
      return queries.sandwich(toProfileQuery(query, '', now()), frame[0]);
    }),
  );

  app.get(
    '/api/topn/functions',
    handle(async (query) => {
      const limit = intParam(query.limit, 'limit', 1000, 1, 100_000);
      return queries.topN(toProfileQuery(query, '', now()), limit);
    }),
  );

  app.get(
    '/api/stacktraces',
    handle(async (query) => {
      const groupBy = parseField(String(query.groupBy ?? 'host.name'), 'groupBy');
      const groups = intParam(query.groups, 'groups', 20, 1, 1000);
      const stacks = intParam(query.stacks, 'stacks', 10, 1, 1000);
      return queries.stacks(toProfileQuery(query, '', now()), groupBy, groups, stacks);
    }),
  );

  app.get(
    '/api/timeline',
    handle(async (query) => {
      const maxBuckets = intParam(query.buckets, 'buckets', 120, 1, 2000);
      const topGroups = intParam(query.groups, 'groups', 10, 1, 100);
      return queries.timeline(toProfileQuery(query, '', now()), {
        groupBy: groupByParam(query),
        maxBuckets,
        topGroups,
      });
    }),
  );

  app.get(
    '/api/diff/flamegraph',
    handle(async (query) => {
      const comparison = toProfileQuery(query, '', now());
      return queries.diffFlamegraph(comparison, toProfileQuery(query, 'baseline', now(), comparison));
    }),
  );

  app.get(
    '/api/diff/topn',
    handle(async (query) => {
      const limit = intParam(query.limit, 'limit', 1000, 1, 100_000);
      const comparison = toProfileQuery(query, '', now());
      return queries.diffTopN(comparison, toProfileQuery(query, 'baseline', now(), comparison), limit);
    }),
  );

  app.get(
    '/api/pprof',
    handle(async (query, _request, reply) => {
      const profile = toProfileQuery(query, '', now());
      const body = await queries.pprof(profile, groupByParam(query), parseActions(query));
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="uniprof-${profile.from}-${profile.to}.pb.gz"`)
        .send(body);
    }),
  );

  app.get(
    '/api/fields/:field/values',
    handle(async (query, request) => {
      const field = parseField((request.params as { field: string }).field, 'field');
      const to = query.to !== undefined ? parseTime(String(query.to), 'to', now()) : now();
      const from = query.from !== undefined ? parseTime(String(query.from), 'from', now()) : to - 86_400;
      const limit = intParam(query.limit, 'limit', 100, 1, 10_000);
      return { field, values: await deps.store.fieldValues(field, from, to, limit) };
    }),
  );

  app.get(
    '/api/status',
    handle(async (): Promise<StatusResponse> => {
      const [report, backlog] = await Promise.all([
        queries.status(now()),
        readBacklog(deps.store.symbolization, backlogTimeoutMs),
      ]);
      const command = pushSymbolsCommand(uploadTarget, '');
      const storage = deps.store.health?.() ?? { writable: true };
      return { ...report, storage, symbolizer: { upload: uploadTarget, command, backlog } };
    }),
  );

  registerElasticCompat(app, queries, now, handle);
  registerSettingsRoutes(app, settings, deps.options?.settingsEditors ?? [], handle);
  const retention = deps.options?.retention ?? { days: null, enforcedBy: 'not configured' };
  registerStorageRoute(app, deps.store, { now, retention, backlogTimeoutMs }, handle);

  app.get('/api/openapi.yaml', async (_request, reply) =>
    reply.header('content-type', 'application/yaml; charset=utf-8').send(readFileSync(openApiPath, 'utf8')),
  );
}
