/**
 * Start-up: make the cluster hold the profiling layout, idempotently. Where Elasticsearch's profiling plugin
 * (or anyone else) already owns the templates we leave them alone: two writers of one template would keep
 * replacing each other's version.
 */
import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import {
  ILM_POLICY,
  KEY_VALUE_INDICES,
  LAYOUT_VERSION,
  MANAGED_BY,
  PLAIN_INDICES,
  SQ_EXECUTABLES,
  SQ_FRAMESETS,
  SQ_LEAFFRAMES,
  SYMBOLS_GLOBAL,
  SYMBOLS_PRIVATE,
  componentTemplates,
  concreteIndexName,
  ilmPolicy,
  indexTemplates,
  queueProperties,
  queueTemplate,
  replicaSettings,
  symbolsLookupProperties,
  type ClusterCapabilities,
  type LayoutSettings,
  type QueueKind,
  type Replicas,
} from './layout.ts';
import type { StoreLogger } from './options.ts';

export type LayoutOwner = 'uniprof' | 'profiling-plugin' | 'foreign';

export interface SetupResult {
  owner: LayoutOwner;
  capabilities: ClusterCapabilities;
  /** Templates, policies and indices this start-up created or replaced (empty when all were current). */
  changed: string[];
}

function statusOf(error: unknown): number | undefined {
  return error instanceof errors.ResponseError ? error.statusCode : undefined;
}

/** Major and minor of a version string such as `8.19.21` or `9.1.0-SNAPSHOT`. */
function majorMinor(version: string): [number, number] {
  const [major, minor] = version.split('.').map((part) => Number.parseInt(part, 10));
  return [major || 0, minor || 0];
}

const atLeast = (version: string, major: number, minor: number): boolean => {
  const [actualMajor, actualMinor] = majorMinor(version);
  return actualMajor > major || (actualMajor === major && actualMinor >= minor);
};

export async function clusterCapabilities(client: Client): Promise<ClusterCapabilities> {
  const response = await client.nodes.info({
    metric: 'plugins',
    filter_path: 'nodes.*.version,nodes.*.modules.name,nodes.*.plugins.name',
  });
  const names = new Set<string>();
  const versions: string[] = [];
  for (const node of Object.values(response.nodes ?? {})) {
    if (node.version) versions.push(node.version);
    for (const module of [...(node.modules ?? []), ...(node.plugins ?? [])]) names.add(module.name);
  }
  const has = (fragment: string) => [...names].some((name) => name.includes(fragment));
  return {
    ilm: has('x-pack-ilm'),
    versionFieldType: has('mapper-version') || has('version-field'),
    unsignedLongFieldType: has('unsigned-long'),
    // Every node must understand the templates: during a rolling upgrade the oldest one decides.
    sourceModeSetting: versions.length > 0 && versions.every((version) => atLeast(version, 8, 18)),
  };
}

/** The plugin answers `_profiling/status`; without it the route does not exist. */
async function profilingPluginPresent(client: Client): Promise<boolean> {
  try {
    await client.transport.request({ method: 'GET', path: '/_profiling/status' });
    return true;
  } catch (error) {
    const status = statusOf(error);
    if (status === 400 || status === 404 || status === 405) return false;
    throw error;
  }
}

interface ExistingTemplate {
  version?: number;
  managedBy?: unknown;
  /** The template's index settings, to see whether its replicas are the configured ones. */
  indexSettings?: unknown;
}

async function existingComponentMeta(client: Client, name: string): Promise<ExistingTemplate | undefined> {
  try {
    const response = await client.cluster.getComponentTemplate({ name });
    const template = response.component_templates[0]?.component_template;
    return template
      ? {
          version: template.version,
          managedBy: template._meta?.managed_by,
          indexSettings: template.template.settings?.index,
        }
      : undefined;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export async function detectOwner(client: Client): Promise<LayoutOwner> {
  if (await profilingPluginPresent(client)) return 'profiling-plugin';
  const events = await existingComponentMeta(client, 'profiling-events');
  if (events && events.managedBy !== MANAGED_BY) return 'foreign';
  return 'uniprof';
}

/** The replica settings of our events template as installed, before this start-up changes anything. */
async function replicasInForce(client: Client): Promise<unknown> {
  const events = await existingComponentMeta(client, 'profiling-events');
  return events?.managedBy === MANAGED_BY ? events.indexSettings : undefined;
}

function isCurrent(existing: ExistingTemplate | undefined): boolean {
  return (
    existing !== undefined && existing.managedBy === MANAGED_BY && (existing.version ?? 0) >= LAYOUT_VERSION
  );
}

/**
 * Whether a template's replica settings are the configured ones (a template without any has nothing to
 * disagree with). Elasticsearch gives settings back as strings.
 */
function hasReplicas(indexSettings: unknown, replicas: Replicas): boolean {
  const actual = indexSettings as
    { number_of_replicas?: unknown; auto_expand_replicas?: unknown } | undefined;
  if (actual?.number_of_replicas === undefined && actual?.auto_expand_replicas === undefined) return true;
  const wanted = replicaSettings(replicas);
  return (
    String(actual.number_of_replicas) === String(wanted.number_of_replicas) &&
    String(actual.auto_expand_replicas ?? 'false') === wanted.auto_expand_replicas
  );
}

/**
 * Replicas are a dynamic setting: when the configured count changed, the existing indices (data streams'
 * backing indices included) take it too, not only the ones created from the templates from now on.
 */
async function applyReplicasToExistingIndices(
  client: Client,
  replicas: Replicas,
  changed: string[],
): Promise<void> {
  await client.indices.putSettings({
    index: 'profiling-*,.profiling-*',
    expand_wildcards: 'all',
    allow_no_indices: true,
    settings: { index: replicaSettings(replicas) },
  });
  changed.push(`replicas of existing indices: ${replicas}`);
}

async function ensureComponentTemplates(
  client: Client,
  settings: LayoutSettings,
  changed: string[],
): Promise<void> {
  for (const { name, template } of componentTemplates(settings)) {
    const existing = await existingComponentMeta(client, name);
    if (isCurrent(existing) && hasReplicas(existing?.indexSettings, settings.replicas)) continue;
    await client.cluster.putComponentTemplate({
      name,
      template,
      version: LAYOUT_VERSION,
      _meta: { managed: true, managed_by: MANAGED_BY },
    });
    changed.push(`component template ${name}`);
  }
}

async function ensureIndexTemplates(
  client: Client,
  settings: LayoutSettings,
  changed: string[],
): Promise<void> {
  for (const { name, body } of indexTemplates(settings)) {
    let existing: ExistingTemplate | undefined;
    try {
      const response = await client.indices.getIndexTemplate({ name });
      const template = response.index_templates[0]?.index_template;
      existing = template
        ? {
            version: template.version,
            managedBy: template._meta?.managed_by,
            indexSettings: template.template?.settings?.index,
          }
        : undefined;
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    if (isCurrent(existing) && hasReplicas(existing?.indexSettings, settings.replicas)) continue;
    await client.transport.request({
      method: 'PUT',
      path: `/_index_template/${encodeURIComponent(name)}`,
      body: { ...body, version: LAYOUT_VERSION, _meta: { managed: true, managed_by: MANAGED_BY } },
    });
    changed.push(`index template ${name}`);
  }
}

async function ensureIlmPolicy(client: Client, changed: string[]): Promise<void> {
  try {
    const existing = await client.ilm.getLifecycle({ name: ILM_POLICY });
    const policy = existing[ILM_POLICY]?.policy;
    if (policy?._meta?.managed_by === MANAGED_BY && Number(policy._meta?.version ?? 0) >= LAYOUT_VERSION)
      return;
    if (policy && policy._meta?.managed_by !== MANAGED_BY) return; // someone else's policy of that name
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  await client.transport.request({
    method: 'PUT',
    path: `/_ilm/policy/${ILM_POLICY}`,
    body: { policy: ilmPolicy() },
  });
  changed.push(`ILM policy ${ILM_POLICY}`);
}

/** Creating an index someone else just created is success, not failure. */
async function createIndexIfMissing(
  client: Client,
  index: string,
  body: Record<string, unknown>,
): Promise<boolean> {
  try {
    await client.indices.create({ index, ...body });
    return true;
  } catch (error) {
    if (
      error instanceof errors.ResponseError &&
      JSON.stringify(error.body).includes('resource_already_exists')
    ) {
      return false;
    }
    throw error;
  }
}

const QUEUE_KINDS = new Map<string, QueueKind>([
  [SQ_EXECUTABLES, 'executables'],
  [SQ_LEAFFRAMES, 'leafframes'],
  [SQ_FRAMESETS, 'framesets'],
]);

/**
 * Where someone else owns the templates, the frame-set queue (ours alone) still needs its mapping: made
 * with the index itself, since no template of theirs matches it.
 */
async function ensureFrameSetsIndex(
  client: Client,
  settings: LayoutSettings,
  changed: string[],
): Promise<void> {
  if (await client.indices.existsAlias({ name: SQ_FRAMESETS })) return;
  const index = concreteIndexName(SQ_FRAMESETS, false);
  const template = queueTemplate(settings, 'framesets') as {
    settings: Record<string, unknown>;
    mappings: Record<string, unknown>;
  };
  if (
    await createIndexIfMissing(client, index, {
      aliases: { [SQ_FRAMESETS]: { is_write_index: true } },
      settings: template.settings,
      mappings: template.mappings,
    })
  ) {
    changed.push(`index ${index}`);
  }
}

async function ensureIndices(client: Client, changed: string[]): Promise<void> {
  for (const alias of KEY_VALUE_INDICES) {
    if (await client.indices.existsAlias({ name: alias })) continue;
    const index = concreteIndexName(alias);
    if (await createIndexIfMissing(client, index, { aliases: { [alias]: { is_write_index: true } } })) {
      changed.push(`index ${index}`);
    }
  }
  for (const name of PLAIN_INDICES) {
    const index = concreteIndexName(name, false);
    const aliases = { aliases: { [name]: { is_write_index: true } } };
    if (!(await client.indices.exists({ index }))) {
      if (await createIndexIfMissing(client, index, aliases)) changed.push(`index ${index}`);
      continue;
    }
    // Layout version 1 made these without the alias the plugin gives them, and without our queue fields.
    if (!(await client.indices.existsAlias({ name, index }))) {
      await client.indices.putAlias({ index, name, is_write_index: true });
      changed.push(`alias ${name}`);
    }
    const queue = QUEUE_KINDS.get(name);
    if (queue && (await addMissingFields(client, index, queueProperties(queue)))) {
      changed.push(`mapping of ${index}`);
    }
  }
  // Layout version 2 made the symbols indices without the lookup buckets (their symbols are still read,
  // the slower way: see symbolization.ts).
  for (const alias of [SYMBOLS_PRIVATE, SYMBOLS_GLOBAL]) {
    if (await addMissingFields(client, alias, symbolsLookupProperties())) changed.push(`mapping of ${alias}`);
  }
}

/** Adds fields (never changes one) to an existing index's mapping; true when some were missing. */
async function addMissingFields(
  client: Client,
  index: string,
  properties: Record<string, unknown>,
): Promise<boolean> {
  const response = await client.indices.getMapping({ index });
  const existing = Object.values(response)[0]?.mappings;
  const missing = Object.keys(properties).filter((field) => !hasField(existing, field));
  if (missing.length === 0) return false;
  await client.indices.putMapping({
    index,
    properties: Object.fromEntries(missing.map((field) => [field, properties[field]])) as Record<
      string,
      estypes.MappingProperty
    >,
  });
  return true;
}

/** Whether a mapping has a field, whether it was given as `a.b` or came back as nested objects. */
function hasField(mapping: { properties?: Record<string, unknown> } | undefined, field: string): boolean {
  let properties = mapping?.properties;
  const parts = field.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (!properties) return false;
    const flat = properties[parts.slice(i).join('.')];
    if (flat !== undefined) return true;
    const next = properties[parts[i]] as { properties?: Record<string, unknown> } | undefined;
    properties = next?.properties;
  }
  return false;
}

/**
 * Installs (or upgrades) the layout unless someone else owns it. Data streams are not created here: the
 * first document creates each one from its template, so empty downsampling levels cost nothing.
 */
export async function ensureLayout(
  client: Client,
  options: { eventShards: number; keyValueShards: number; replicas: Replicas; logger: StoreLogger },
): Promise<SetupResult> {
  const capabilities = await clusterCapabilities(client);
  const owner = await detectOwner(client);
  const changed: string[] = [];
  const settings: LayoutSettings = { ...options, capabilities };
  if (owner !== 'uniprof') {
    options.logger.info(
      { owner },
      'profiling index templates are managed elsewhere; leaving them as they are',
    );
    await ensureFrameSetsIndex(client, settings, changed);
    return { owner, capabilities, changed };
  }
  if (capabilities.ilm) await ensureIlmPolicy(client, changed);
  const replicasBefore = await replicasInForce(client);
  await ensureComponentTemplates(client, settings, changed);
  await ensureIndexTemplates(client, settings, changed);
  if (replicasBefore !== undefined && !hasReplicas(replicasBefore, settings.replicas))
    await applyReplicasToExistingIndices(client, settings.replicas, changed);
  await ensureIndices(client, changed);
  if (changed.length > 0) options.logger.info({ changed }, 'Elasticsearch profiling layout installed');
  return { owner, capabilities, changed };
}
