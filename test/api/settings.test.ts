import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import {
  hashPassword,
  ReaderAccess,
  registerQueryApi,
  registerReaderAuth,
  SESSION_COOKIE,
} from '../../src/api/index.ts';
import { parseElasticRequest } from '../../src/api/elastic-compat.ts';
import type { SettingsResponse } from '../../src/api/settings.ts';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import type { HostMetadata } from '../../src/model/index.ts';
import {
  DEFAULT_IMPACT_FACTORS,
  impactPerSample,
  type CompactFlamegraph,
  type TopNResponse,
} from '../../src/query/index.ts';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { T0, expectedCount, writeFixture } from '../query/fixture.ts';
import { TEST_READ_TOKEN, bearer } from '../support/reader-auth.ts';

const EDITOR = { name: 'ops', password: 'the editor password 123' };
const READER = { name: 'analyst', password: 'the reader password 456' };
/** The configured defaults differ from the built-in ones: the page must show these as the defaults. */
const CONFIGURED = { costPerCoreHourUsd: 0.05 };
const RANGE = `from=${T0}&to=${T0 + 120}&samplingLevel=0`;
const SECONDS_PER_YEAR = 365 * 24 * 3600;

async function serve(store: EmbeddedStore, access: ReaderAccess): Promise<FastifyInstance> {
  const app = Fastify();
  await registerReaderAuth(app, access);
  await registerQueryApi(app, {
    store,
    options: { now: () => T0 + 120, impact: CONFIGURED, settingsEditors: [EDITOR.name] },
  });
  await app.ready();
  return app;
}

async function login(app: FastifyInstance, user: { name: string; password: string }): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { user: user.name, password: user.password },
  });
  assert.equal(response.statusCode, 200, response.body);
  const cookie = response.cookies.find((c) => c.name === SESSION_COOKIE);
  assert.ok(cookie, 'no session cookie');
  return `${SESSION_COOKIE}=${cookie.value}`;
}

describe('settings API: CO2 and cost factors', () => {
  let dir: string;
  let store: EmbeddedStore;
  let app: FastifyInstance;
  let access: ReaderAccess;
  let editorCookie: string;
  let readerCookie: string;

  const openStore = async () => {
    const opened = new EmbeddedStore({ path: join(dir, 'uniprof.duckdb'), seed: 7 });
    await opened.open();
    return opened;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uniprof-settings-'));
    store = await openStore();
    await writeFixture(store);
    access = new ReaderAccess({
      users: {
        [EDITOR.name]: await hashPassword(EDITOR.password),
        [READER.name]: await hashPassword(READER.password),
      },
      tokens: [TEST_READ_TOKEN],
    });
    app = await serve(store, access);
    editorCookie = await login(app, EDITOR);
    readerCookie = await login(app, READER);
  });

  after(async () => {
    await app?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const request = async (options: InjectOptions) => {
    const response = await app.inject(options);
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };
  const put = (impact: unknown, headers: Record<string, string>) =>
    request({ method: 'PUT', url: '/api/settings', payload: { impact }, headers });
  const editor = () => ({ cookie: editorCookie });
  const getAs = async (headers: Record<string, string>) =>
    (await request({ method: 'GET', url: '/api/settings', headers })).body as unknown as SettingsResponse;
  const topN = async () =>
    (await request({ method: 'GET', url: `/api/topn/functions?${RANGE}&limit=5`, headers: bearer() }))
      .body as unknown as TopNResponse;

  it('shows every reader the configured defaults, and only an editor may change them', async () => {
    const settings = await getAs(bearer());
    assert.deepEqual(settings.impact.values, { ...DEFAULT_IMPACT_FACTORS, ...CONFIGURED });
    assert.deepEqual(settings.impact.defaults, settings.impact.values);
    assert.deepEqual(settings.impact.overridden, []);
    assert.equal(settings.canEdit, false);
    assert.match(settings.readOnlyReason!, /read token/);
    assert.equal((await getAs({ cookie: readerCookie })).canEdit, false);
    assert.equal((await getAs({ cookie: editorCookie })).canEdit, true);
  });

  it('refuses changes from a read token and from a user who is not an editor, with 403 and why', async () => {
    const byToken = await put({ costPerCoreHourUsd: 1 }, bearer());
    assert.equal(byToken.status, 403);
    assert.match(String(byToken.body.message), /read token.*settingsEditors/);
    const byReader = await put({ costPerCoreHourUsd: 1 }, { cookie: readerCookie });
    assert.equal(byReader.status, 403);
    assert.match(String(byReader.body.message), /"analyst".*settingsEditors/);
    const anonymous = await put({ costPerCoreHourUsd: 1 }, {});
    assert.equal(anonymous.status, 401);
    assert.deepEqual((await getAs(bearer())).impact.overridden, []);
  });

  it('refuses invalid values with 400 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ costPerCoreHourUsd: -1 }, /^impact\.costPerCoreHourUsd: /],
      [{ co2TonsPerKwh: 'NaN' }, /^impact\.co2TonsPerKwh: must be a number/],
      [{ datacenterPue: 0.5 }, /^impact\.datacenterPue: /],
      [{ datacenterPue: 1e9 }, /^impact\.datacenterPue: /],
      [{ wattsPerCoreX86: 0 }, /^impact\.wattsPerCoreX86: /],
      [{ awsCostDiscountPercent: 120 }, /^impact\.awsCostDiscountPercent: /],
      [{ samplingFrequencyHz: null }, /^impact\.samplingFrequencyHz: must be a number/],
      [{ wattsPerCore: 5 }, /^impact\.wattsPerCore: /],
    ];
    for (const [impact, message] of cases) {
      const response = await put(impact, editor());
      assert.equal(response.status, 400, JSON.stringify(impact));
      assert.match(String(response.body.message), message);
    }
    const noImpact = await request({ method: 'PUT', url: '/api/settings', payload: {}, headers: editor() });
    assert.equal(noImpact.status, 400);
    assert.match(String(noImpact.body.message), /^impact: /);
    assert.deepEqual((await getAs(bearer())).impact.overridden, []);
  });

  it('applies an editor’s change to top functions, the flamegraph, the status and the Elasticsearch API at once', async () => {
    const before = await topN();
    const graphBefore = (await request({ method: 'GET', url: `/api/flamegraph?${RANGE}`, headers: bearer() }))
      .body as unknown as CompactFlamegraph;
    const count = expectedCount(T0, T0 + 120);
    // Independently: 120 s of samples at 20 Hz, scaled to a year, at the configured price.
    const coreHours = ((count / 20) * (SECONDS_PER_YEAR / 120)) / 3600;
    assert.ok(Math.abs(before.self_annual_cost_usd - coreHours * 0.05) < 1e-6 * coreHours);

    const changed = await put({ costPerCoreHourUsd: 0.2, co2TonsPerKwh: 0.000379069 * 3 }, editor());
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const state = changed.body as unknown as SettingsResponse;
    assert.deepEqual(state.impact.overridden.sort(), ['co2TonsPerKwh', 'costPerCoreHourUsd']);
    assert.equal(state.impact.updatedBy, EDITOR.name);

    const after = await topN();
    assert.equal(after.total_count, before.total_count);
    assert.ok(Math.abs(after.self_annual_cost_usd / before.self_annual_cost_usd - 4) < 1e-9);
    assert.ok(Math.abs(after.self_annual_co2_tons / before.self_annual_co2_tons - 3) < 1e-9);
    assert.ok(
      Math.abs(after.topn[0].self_annual_costs_usd / before.topn[0].self_annual_costs_usd - 4) < 1e-9,
    );
    const graphAfter = (await request({ method: 'GET', url: `/api/flamegraph?${RANGE}`, headers: bearer() }))
      .body as unknown as CompactFlamegraph;
    assert.ok(
      Math.abs(graphAfter.impactPerSample.annualCostUsd / graphBefore.impactPerSample.annualCostUsd - 4) <
        1e-9,
    );
    assert.ok(
      Math.abs(graphAfter.impactPerSample.annualCo2Tons / graphBefore.impactPerSample.annualCo2Tons - 3) <
        1e-9,
    );
    const status = (await request({ method: 'GET', url: '/api/status', headers: bearer() })).body as {
      impactFactors: { costPerCoreHourUsd: number };
    };
    assert.equal(status.impactFactors.costPerCoreHourUsd, 0.2);
    const elastic = (
      await request({
        method: 'POST',
        url: '/_profiling/topn/functions',
        headers: bearer(),
        payload: { query: { range: { '@timestamp': { gte: T0, lt: T0 + 120, format: 'epoch_second' } } } },
      })
    ).body as unknown as TopNResponse;
    assert.ok(Math.abs(elastic.self_annual_cost_usd / (coreHours * 0.2) - 1) < 1e-9);
  });

  it('keeps the change across a restart of the store and the server, and resets to the defaults', async () => {
    await app.close();
    await store.close();
    store = await openStore();
    app = await serve(store, access);
    const settings = await getAs(bearer());
    assert.equal(settings.impact.values.costPerCoreHourUsd, 0.2);
    assert.equal(settings.impact.defaults.costPerCoreHourUsd, 0.05);
    assert.equal(settings.impact.updatedBy, EDITOR.name);
    const count = expectedCount(T0, T0 + 120);
    const coreHours = ((count / 20) * (SECONDS_PER_YEAR / 120)) / 3600;
    assert.ok(Math.abs((await topN()).self_annual_cost_usd / (coreHours * 0.2) - 1) < 1e-9);

    const reset = await put({}, editor());
    assert.equal(reset.status, 200);
    const cleared = await getAs(bearer());
    assert.deepEqual(cleared.impact.overridden, []);
    assert.deepEqual(cleared.impact.values, cleared.impact.defaults);
  });

  it('lets anyone change settings when reader auth is off, as everything else', async () => {
    const open = Fastify();
    await registerReaderAuth(open, ReaderAccess.disabled());
    await registerQueryApi(open, { store, options: { settingsEditors: [] } });
    const response = await open.inject({
      method: 'PUT',
      url: '/api/settings',
      payload: { impact: { datacenterPue: 1.1 } },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal((response.json() as SettingsResponse).impact.values.datacenterPue, 1.1);
    await open.close();
    assert.equal((await getAs(bearer())).impact.values.datacenterPue, 1.1, 'one store, one setting');
  });
});

describe('cloud discounts', () => {
  const host = (provider: string | undefined): HostMetadata => ({
    hostId: provider ?? 'on-premise',
    timestamp: T0,
    arch: 'amd64',
    projectId: 1,
    attributes: provider ? { 'cloud.provider': provider } : {},
  });
  it('take their percent off the cost of hosts on that provider only, averaged over the hosts', () => {
    const factors = { ...DEFAULT_IMPACT_FACTORS, awsCostDiscountPercent: 20, azureCostDiscountPercent: 50 };
    const full = impactPerSample(60, [host(undefined)], factors).annualCostUsd;
    assert.ok(Math.abs(impactPerSample(60, [host('aws')], factors).annualCostUsd / full - 0.8) < 1e-12);
    assert.ok(Math.abs(impactPerSample(60, [host('azure')], factors).annualCostUsd / full - 0.5) < 1e-12);
    assert.ok(Math.abs(impactPerSample(60, [host('gcp')], factors).annualCostUsd / full - 1) < 1e-12);
    const mixed = impactPerSample(60, [host('aws'), host(undefined)], factors).annualCostUsd;
    assert.ok(Math.abs(mixed / full - 0.9) < 1e-12);
    // Elasticsearch's request takes them as the share paid.
    const range = { range: { '@timestamp': { gte: T0, lt: T0 + 60, format: 'epoch_second' } } };
    const parsed = parseElasticRequest({ query: range, aws_cost_factor: 0.8, azure_cost_factor: 1 }, T0);
    assert.ok(Math.abs(parsed.impact.awsCostDiscountPercent! - 20) < 1e-9);
    assert.equal(parsed.impact.azureCostDiscountPercent, 0);
    assert.throws(() => parseElasticRequest({ query: range, aws_cost_factor: 1.5 }, T0), /aws_cost_factor/);
    // CO2 does not depend on the price.
    assert.equal(
      impactPerSample(60, [host('aws')], factors).annualCo2Tons,
      impactPerSample(60, [host(undefined)], factors).annualCo2Tons,
    );
  });
});

describe('settings configuration', () => {
  it('names the settings editors in api.auth.settingsEditors, from a file, env or flags', () => {
    assert.deepEqual(loadConfig().api.auth.settingsEditors, []);
    const fromEnv = loadConfig({ env: { UNIPROF_API_AUTH_SETTINGS_EDITORS: 'ops, alice' } });
    assert.deepEqual(fromEnv.api.auth.settingsEditors, ['ops', 'alice']);
    const fromFlag = loadConfig({ overrides: ['query.awsCostDiscountPercent=12.5'] });
    assert.equal(fromFlag.query.awsCostDiscountPercent, 12.5);
    assert.throws(
      () => loadConfig({ overrides: ['query.azureCostDiscountPercent=150'] }),
      (error: unknown) =>
        error instanceof ConfigError && /query\.azureCostDiscountPercent/.test(error.message),
    );
  });
});
