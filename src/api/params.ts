import { z } from 'zod';
import { frameTypeFromAgentName, MAX_SAMPLING_LEVEL, type FrameType } from '../model/index.ts';
import { parseFilter, resolveField, andFilters } from '../query/filter.ts';
import type { FlamegraphActions } from '../query/actions.ts';
import type { ProfileQuery } from '../query/run.ts';
import type { EventField } from '../store/store.ts';

/** A request parameter that cannot be used: answered with 400 and the message. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

const RELATIVE_TIME = /^now(?:-(\d+)([smhdw]))?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Epoch seconds from `1700000000`, an ISO date, `now` or `now-15m` (s, m, h, d, w). */
export function parseTime(text: string, name: string, nowSeconds: number): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.floor(Number(trimmed));
  const relative = RELATIVE_TIME.exec(trimmed);
  if (relative) {
    return relative[1] ? nowSeconds - Number(relative[1]) * UNIT_SECONDS[relative[2]] : nowSeconds;
  }
  const parsed = Date.parse(trimmed);
  if (Number.isNaN(parsed)) {
    throw new BadRequestError(`${name}: "${text}" is not epoch seconds, an ISO date, "now" or "now-15m"`);
  }
  return Math.floor(parsed / 1000);
}

export function parseFrameTypes(text: string | undefined): FrameType[] | undefined {
  if (!text || text.trim() === '') return undefined;
  return text.split(',').map((part) => {
    const name = part.trim();
    if (/^\d+$/.test(name)) return Number(name);
    const type = frameTypeFromAgentName(name);
    if (type === undefined) throw new BadRequestError(`frameTypes: unknown frame type "${name}"`);
    return type;
  });
}

export function parseField(text: string, name: string): EventField {
  const field = resolveField(text);
  if (!field) throw new BadRequestError(`${name}: unknown field "${text}"`);
  return field;
}

/** The parameters every profile query accepts; `prefix` names the baseline set of a differential query. */
export const queryParamsSchema = z.object({
  from: z.string().optional(),
  to: z.string().optional(),
  filter: z.string().max(10_000).optional(),
  frameTypes: z.string().optional(),
  samplingLevel: z.coerce.number().int().min(0).max(MAX_SAMPLING_LEVEL).optional(),
});

const DEFAULT_RANGE_SECONDS = 15 * 60;

export function toProfileQuery(
  raw: Record<string, unknown>,
  prefix: '' | 'baseline',
  nowSeconds: number,
  fallback?: ProfileQuery,
): ProfileQuery {
  const name = (key: string): string => (prefix ? `${prefix}${key[0].toUpperCase()}${key.slice(1)}` : key);
  const pick = (key: string): unknown => raw[name(key)];
  const parsed = queryParamsSchema.safeParse({
    from: pick('from'),
    to: pick('to'),
    filter: pick('filter'),
    frameTypes: pick('frameTypes'),
    samplingLevel: pick('samplingLevel'),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadRequestError(`${name(String(issue.path[0] ?? ''))}: ${issue.message}`);
  }
  const params = parsed.data;
  const to =
    params.to !== undefined ? parseTime(params.to, name('to'), nowSeconds) : (fallback?.to ?? nowSeconds);
  const from =
    params.from !== undefined
      ? parseTime(params.from, name('from'), nowSeconds)
      : (fallback?.from ?? to - DEFAULT_RANGE_SECONDS);
  if (to <= from) throw new BadRequestError(`${name('to')} must be after ${name('from')}`);
  let filter = fallback?.filter;
  if (params.filter !== undefined) {
    try {
      filter = andFilters(parseFilter(params.filter));
    } catch (error) {
      throw new BadRequestError(`${name('filter')}: ${(error as Error).message}`);
    }
  }
  return {
    from,
    to,
    filter,
    frameTypes: params.frameTypes !== undefined ? parseFrameTypes(params.frameTypes) : fallback?.frameTypes,
    samplingLevel: params.samplingLevel ?? fallback?.samplingLevel,
  };
}

export function intParam(raw: unknown, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BadRequestError(`${name}: must be an integer from ${min} to ${max}, got "${String(raw)}"`);
  }
  return value;
}

/** A parameter given once or repeated (`hide=a&hide=b`): its non-empty values. */
export function listParam(raw: unknown): string[] {
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values.map(String).filter((value) => value !== '');
}

/** The flamegraph actions of a request: `focus`, `hide`, `collapse` (repeated or comma-separated), `invert`. */
export function parseActions(raw: Record<string, unknown>): FlamegraphActions {
  const focus = listParam(raw.focus);
  if (focus.length > 1) throw new BadRequestError('focus: give one frame key');
  const invert = raw.invert === undefined ? '' : String(raw.invert);
  if (!['', '0', '1', 'true', 'false'].includes(invert))
    throw new BadRequestError(`invert: must be 1 or 0, got "${invert}"`);
  return {
    focus: focus[0],
    hide: listParam(raw.hide),
    collapse: listParam(raw.collapse),
    invert: invert === '1' || invert === 'true',
  };
}
