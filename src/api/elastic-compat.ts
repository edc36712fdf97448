import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { andFilters, resolveField } from '../query/filter.ts';
import type { ImpactFactors } from '../query/impact.ts';
import type { ProfilingQueries } from '../query/index.ts';
import type { ProfileQuery } from '../query/run.ts';
import type { EventFilter } from '../store/store.ts';
import { BadRequestError, parseTime } from './params.ts';

/**
 * Elasticsearch's `_profiling/flamegraph` and `_profiling/topn/functions` endpoints, so that tools written for
 * them can point at Uniprof. The request body is the one those endpoints take: `query` (a subset of the query
 * DSL: bool filter/must/should/must_not, range on @timestamp, term, terms, match, match_phrase, wildcard,
 * prefix, exists-free match_all), `limit`, `requested_duration` and the CO2/cost factors.
 */
type Json = Record<string, unknown>;

const TIMESTAMP_FIELDS = new Set(['@timestamp', 'timestamp']);

interface Bounds {
  from?: number;
  to?: number;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function single(node: Json, where: string): [string, unknown] {
  const entries = Object.entries(node);
  if (entries.length !== 1)
    throw new BadRequestError(`${where}: expected exactly one key, got ${entries.length}`);
  return entries[0];
}

function eventField(name: string, where: string) {
  const field = resolveField(name);
  if (!field)
    throw new BadRequestError(`${where}: field "${name}" is not an event field Uniprof can filter on`);
  return field;
}

function scalar(value: unknown, where: string): string {
  const inner = isObject(value) ? (value.value ?? value.query) : value;
  if (typeof inner === 'string' || typeof inner === 'number' || typeof inner === 'boolean')
    return String(inner);
  throw new BadRequestError(`${where}: expected a string or number value`);
}

/** Translates one query clause; `conjunctive` says whether a time range here bounds the whole query. */
function translate(
  node: unknown,
  bounds: Bounds,
  conjunctive: boolean,
  now: number,
  where = 'query',
): EventFilter | undefined {
  if (!isObject(node)) throw new BadRequestError(`${where}: expected an object`);
  const [kind, body] = single(node, where);
  const at = `${where}.${kind}`;
  switch (kind) {
    case 'match_all':
      return undefined;
    case 'bool':
      return translateBool(body, bounds, conjunctive, now, at);
    case 'range':
      return translateRange(body, bounds, conjunctive, now, at);
    case 'term':
    case 'match':
    case 'match_phrase':
    case 'wildcard':
    case 'prefix': {
      if (!isObject(body)) throw new BadRequestError(`${at}: expected an object`);
      const [name, value] = single(body, at);
      const field = eventField(name, at);
      const text = scalar(value, `${at}.${name}`);
      return { kind: 'match', field, pattern: kind === 'prefix' ? `${text}*` : text };
    }
    case 'terms': {
      if (!isObject(body)) throw new BadRequestError(`${at}: expected an object`);
      const [name, values] = single(body, at);
      const field = eventField(name, at);
      if (!Array.isArray(values) || values.length === 0)
        throw new BadRequestError(`${at}.${name}: expected a non-empty array`);
      const filters = values.map((v, i): EventFilter => ({
        kind: 'match',
        field,
        pattern: scalar(v, `${at}.${name}[${i}]`),
      }));
      return filters.length === 1 ? filters[0] : { kind: 'or', filters };
    }
    default:
      throw new BadRequestError(
        `${at}: the "${kind}" query is not supported (supported: bool, range on @timestamp, term, terms, match, match_phrase, wildcard, prefix, match_all)`,
      );
  }
}

function clauses(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function translateBool(
  body: unknown,
  bounds: Bounds,
  conjunctive: boolean,
  now: number,
  at: string,
): EventFilter | undefined {
  if (!isObject(body)) throw new BadRequestError(`${at}: expected an object`);
  const required = [...clauses(body.filter), ...clauses(body.must)].map((c, i) =>
    translate(c, bounds, conjunctive, now, `${at}.filter[${i}]`),
  );
  const excluded = clauses(body.must_not).map((c, i) =>
    translate(c, bounds, false, now, `${at}.must_not[${i}]`),
  );
  const optional = clauses(body.should).map((c, i) => translate(c, bounds, false, now, `${at}.should[${i}]`));
  const minimumShould = Number(
    body.minimum_should_match ?? (required.length === 0 && excluded.length === 0 ? 1 : 0),
  );
  const parts: (EventFilter | undefined)[] = [...required];
  for (const filter of excluded) if (filter) parts.push({ kind: 'not', filter });
  // Like Elasticsearch in filter context: `should` only restricts when it must match (alone, or by minimum).
  const presentShould = optional.filter((f): f is EventFilter => f !== undefined);
  if (minimumShould >= 1 && presentShould.length > 0) {
    if (minimumShould > 1) throw new BadRequestError(`${at}.minimum_should_match: only 0 or 1 is supported`);
    parts.push(presentShould.length === 1 ? presentShould[0] : { kind: 'or', filters: presentShould });
  }
  return andFilters(...parts);
}

function translateRange(
  body: unknown,
  bounds: Bounds,
  conjunctive: boolean,
  now: number,
  at: string,
): undefined {
  if (!isObject(body)) throw new BadRequestError(`${at}: expected an object`);
  const [name, limits] = single(body, at);
  if (!TIMESTAMP_FIELDS.has(name))
    throw new BadRequestError(`${at}: only a range on @timestamp is supported, not "${name}"`);
  if (!conjunctive)
    throw new BadRequestError(
      `${at}: a time range must apply to the whole query (not under should/must_not)`,
    );
  if (!isObject(limits)) throw new BadRequestError(`${at}.${name}: expected an object`);
  const time = (key: string) =>
    parseTime(String(limits[key]).replace(/\|\|.*$/, ''), `${at}.${name}.${key}`, now);
  if (limits.gte !== undefined) bounds.from = Math.max(bounds.from ?? -Infinity, time('gte'));
  if (limits.gt !== undefined) bounds.from = Math.max(bounds.from ?? -Infinity, time('gt') + 1);
  if (limits.lt !== undefined) bounds.to = Math.min(bounds.to ?? Infinity, time('lt'));
  if (limits.lte !== undefined) bounds.to = Math.min(bounds.to ?? Infinity, time('lte') + 1);
  return undefined;
}

const FACTOR_FIELDS: [string, keyof ImpactFactors][] = [
  ['co2_per_kwh', 'co2TonsPerKwh'],
  ['datacenter_pue', 'datacenterPue'],
  ['per_core_watt_x86', 'wattsPerCoreX86'],
  ['per_core_watt_arm64', 'wattsPerCoreArm64'],
  ['cost_per_core_hour', 'costPerCoreHourUsd'],
];

/** Elasticsearch takes cloud discounts as the factor paid (0.9 for 10 % off); we keep the percent off. */
const DISCOUNT_FIELDS: [string, keyof ImpactFactors][] = [
  ['aws_cost_factor', 'awsCostDiscountPercent'],
  ['azure_cost_factor', 'azureCostDiscountPercent'],
];

export interface ElasticRequest {
  query: ProfileQuery;
  limit?: number;
  impact: Partial<ImpactFactors>;
  durationSeconds?: number;
}

/** Parses an Elasticsearch profiling request body into our query. */
export function parseElasticRequest(body: unknown, now: number): ElasticRequest {
  const request = isObject(body) ? body : {};
  if (request.indices !== undefined || request.stacktrace_ids_field !== undefined) {
    throw new BadRequestError('indices / stacktrace_ids_field: custom event indices are not supported');
  }
  const bounds: Bounds = {};
  const filter = request.query !== undefined ? translate(request.query, bounds, true, now) : undefined;
  if (bounds.from === undefined || bounds.to === undefined) {
    throw new BadRequestError('query: a range on @timestamp with a lower and an upper bound is required');
  }
  if (bounds.to <= bounds.from) throw new BadRequestError('query: the @timestamp range is empty');
  const impact: Partial<ImpactFactors> = {};
  for (const [name, key] of FACTOR_FIELDS) {
    const value = request[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value > 0))
      throw new BadRequestError(`${name}: must be a positive number`);
    impact[key] = value;
  }
  for (const [name, key] of DISCOUNT_FIELDS) {
    const value = request[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1))
      throw new BadRequestError(`${name}: must be a number from 0 to 1 (the share of the price paid)`);
    impact[key] = (1 - value) * 100;
  }
  const limit = request.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1)) {
    throw new BadRequestError('limit: must be a positive integer');
  }
  const duration = request.requested_duration;
  if (duration !== undefined && (typeof duration !== 'number' || !(duration > 0))) {
    throw new BadRequestError('requested_duration: must be a positive number of seconds');
  }
  return {
    query: { from: bounds.from, to: bounds.to, filter },
    limit: limit as number | undefined,
    impact,
    durationSeconds: duration as number | undefined,
  };
}

/** The body, or (for GET, whose body HTTP servers drop) the `source` parameter, as Elasticsearch allows. */
function requestBody(query: Json, request: FastifyRequest): unknown {
  if (request.body !== undefined && request.body !== null && request.body !== '') return request.body;
  if (typeof query.source !== 'string') return undefined;
  try {
    return JSON.parse(query.source) as unknown;
  } catch (error) {
    throw new BadRequestError(`source: not JSON (${(error as Error).message})`);
  }
}

export function registerElasticCompat(
  app: FastifyInstance,
  queries: ProfilingQueries,
  now: () => number,
  handle: (
    work: (query: Json, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  const flamegraph = handle(async (query, request) => {
    const parsed = parseElasticRequest(requestBody(query, request), now());
    return queries.elasticFlamegraph(parsed.query, undefined, {
      impact: parsed.impact,
      durationSeconds: parsed.durationSeconds,
    });
  });
  const topN = handle(async (query, request) => {
    const parsed = parseElasticRequest(requestBody(query, request), now());
    return queries.topN(parsed.query, parsed.limit ?? 1000, {
      impact: parsed.impact,
      durationSeconds: parsed.durationSeconds,
    });
  });
  app.route({ method: ['GET', 'POST'], url: '/_profiling/flamegraph', handler: flamegraph });
  app.route({ method: ['GET', 'POST'], url: '/_profiling/topn/functions', handler: topN });
}
