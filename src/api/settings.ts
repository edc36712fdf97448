import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ImpactFactors } from '../query/impact.ts';
import type { SettingsStore, StoredSetting } from '../store/store.ts';
import type { Reader } from './auth/index.ts';
import { BadRequestError } from './params.ts';

/** The settings record that holds the factors changed on the Settings page (only those; the rest are defaults). */
export const IMPACT_SETTING = 'impact-factors';

/**
 * What each factor may be set to. The bounds keep out what no real deployment has (a PUE below 1, a discount
 * over 100 %, a grid dirtier than 10 kg CO2 per kWh) so a typo cannot turn every figure into nonsense.
 */
export const IMPACT_LIMITS: Readonly<
  Record<keyof ImpactFactors, { min: number; max: number; above?: true }>
> = {
  samplingFrequencyHz: { min: 0, max: 10_000, above: true },
  costPerCoreHourUsd: { min: 0, max: 100 },
  co2TonsPerKwh: { min: 0, max: 0.01 },
  datacenterPue: { min: 1, max: 10 },
  wattsPerCoreX86: { min: 0, max: 1000, above: true },
  wattsPerCoreArm64: { min: 0, max: 1000, above: true },
  awsCostDiscountPercent: { min: 0, max: 100 },
  azureCostDiscountPercent: { min: 0, max: 100 },
};

const FACTOR_NAMES = Object.keys(IMPACT_LIMITS) as (keyof ImpactFactors)[];

const factorSchema = (name: keyof ImpactFactors) => {
  const { min, max, above } = IMPACT_LIMITS[name];
  const number = z.number({ error: 'must be a number' }).max(max);
  return above ? number.gt(min) : number.min(min);
};

/** Overrides as stored and as PUT takes them: any subset of the factors, each within its limits. */
export const impactOverridesSchema = z
  .object(
    Object.fromEntries(FACTOR_NAMES.map((name) => [name, factorSchema(name).optional()])) as Record<
      keyof ImpactFactors,
      z.ZodOptional<z.ZodNumber>
    >,
  )
  .strict();

const putBodySchema = z.object({ impact: impactOverridesSchema }).strict();

export type ImpactOverrides = Partial<ImpactFactors>;

export interface ImpactSettingsState {
  /** In force now: the defaults with the overrides over them. */
  values: ImpactFactors;
  /** From the configuration file, env and flags (`query.*`). */
  defaults: ImpactFactors;
  /** The factors whose value was set on the Settings page. */
  overridden: (keyof ImpactFactors)[];
  limits: typeof IMPACT_LIMITS;
  updatedAt?: number;
  updatedBy?: string;
}

/**
 * The CO2 and cost factors in force: the configured defaults with the overrides kept in the store. Queries
 * ask `current()`, which rereads the store at most every `cacheMs`, so a change made through another server
 * on the same store (several collectors on one Elasticsearch) applies here within that time, and one made
 * here applies at once.
 */
export class ImpactSettings {
  private cached?: { at: number; state: ImpactSettingsState };

  constructor(
    private readonly store: SettingsStore,
    readonly defaults: ImpactFactors,
    private readonly options: { cacheMs?: number; clock?: () => number } = {},
  ) {}

  async current(): Promise<ImpactFactors> {
    const clock = this.options.clock ?? Date.now;
    const cached = this.cached;
    if (cached && clock() - cached.at < (this.options.cacheMs ?? 5000)) return cached.state.values;
    try {
      return (await this.read()).values;
    } catch (error) {
      // A store that cannot answer now fails the query on its own; a stale value is better than none meanwhile.
      if (cached) return cached.state.values;
      throw error;
    }
  }

  async read(): Promise<ImpactSettingsState> {
    const stored = await this.store.readSetting(IMPACT_SETTING);
    const state = this.stateOf(stored);
    this.cached = { at: (this.options.clock ?? Date.now)(), state };
    return state;
  }

  /** Replaces the overrides: factors left out go back to their defaults. */
  async replace(overrides: ImpactOverrides, by: string | undefined): Promise<ImpactSettingsState> {
    const setting: StoredSetting = {
      value: overrides,
      updatedAt: Math.floor((this.options.clock ?? Date.now)() / 1000),
      ...(by !== undefined ? { updatedBy: by } : {}),
    };
    await this.store.writeSetting(IMPACT_SETTING, setting);
    const state = this.stateOf(setting);
    this.cached = { at: (this.options.clock ?? Date.now)(), state };
    return state;
  }

  private stateOf(stored: StoredSetting | undefined): ImpactSettingsState {
    // A record this version cannot read (written by another, say) counts as no overrides, never as a failure.
    const parsed = stored ? impactOverridesSchema.safeParse(stored.value) : undefined;
    const overrides: ImpactOverrides = parsed?.success ? parsed.data : {};
    const overridden = FACTOR_NAMES.filter((name) => overrides[name] !== undefined);
    return {
      values: { ...this.defaults, ...overrides },
      defaults: this.defaults,
      overridden,
      limits: IMPACT_LIMITS,
      updatedAt: stored?.updatedAt,
      updatedBy: stored?.updatedBy,
    };
  }
}

/** Who may change settings: a logged-in user named in `editors`, or anyone when reader auth is off. */
export function settingsEditDenial(
  reader: Reader | undefined,
  editors: readonly string[],
): string | undefined {
  if (reader?.kind === 'anyone') return undefined;
  if (reader?.kind === 'user' && editors.includes(reader.name)) return undefined;
  if (reader?.kind === 'user')
    return `user "${reader.name}" may read the settings but not change them: only the users listed in api.auth.settingsEditors may`;
  return 'a read token may read the settings but not change them: log in as a user listed in api.auth.settingsEditors';
}

export interface SettingsResponse {
  impact: ImpactSettingsState;
  /** Whether the caller may PUT; `readOnlyReason` says why not. */
  canEdit: boolean;
  readOnlyReason?: string;
}

type Handle = (
  work: (query: Record<string, unknown>, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
) => (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** GET and PUT /api/settings, behind reader auth like the rest of the query API. */
export function registerSettingsRoutes(
  app: FastifyInstance,
  settings: ImpactSettings,
  editors: readonly string[],
  handle: Handle,
): void {
  const respond = (state: ImpactSettingsState, request: FastifyRequest): SettingsResponse => {
    const denial = settingsEditDenial(request.reader, editors);
    return { impact: state, canEdit: denial === undefined, ...(denial ? { readOnlyReason: denial } : {}) };
  };

  app.get(
    '/api/settings',
    handle(async (_query, request) => respond(await settings.read(), request)),
  );

  app.put(
    '/api/settings',
    handle(async (_query, request, reply) => {
      const denial = settingsEditDenial(request.reader, editors);
      if (denial !== undefined) return reply.code(403).send({ error: 'forbidden', message: denial });
      const parsed = putBodySchema.safeParse(request.body ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const path = [...issue.path, ...(issue.code === 'unrecognized_keys' ? issue.keys : [])];
        throw new BadRequestError(`${path.map(String).join('.') || 'body'}: ${issue.message}`);
      }
      const by = request.reader?.kind === 'user' ? request.reader.name : undefined;
      const state = await settings.replace(parsed.data.impact, by);
      request.log.info({ by, overrides: parsed.data.impact }, 'impact factors changed');
      return respond(state, request);
    }),
  );
}
