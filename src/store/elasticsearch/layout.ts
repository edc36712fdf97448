/**
 * The Universal Profiling index layout on Elasticsearch: the names, mappings and settings that Elasticsearch's
 * profiling plugin and Kibana read. Field names and types follow the plugin's templates; the definitions
 * are ours.
 */
import { MAX_SAMPLING_LEVEL } from '../../model/index.ts';

/**
 * Bumped whenever a definition below changes; templates with an older version are replaced at start-up.
 * Version 4: events' `@timestamp` is `date_nanos` taking epoch seconds or ISO-8601 (see eventTimestamp).
 * Version 5: the frame-set queue index (SQ_FRAMESETS) and its template.
 * Version 6: the downsampled events' own template (fewer shards, see downsampledEventShards).
 */
export const LAYOUT_VERSION = 6;
/**
 * The version in concrete index names (`.profiling-X-v001`). Kept apart from LAYOUT_VERSION: a template change
 * that only adds fields is applied to the existing indices (see setup.ts) instead of starting new ones.
 */
export const INDEX_NAME_VERSION = 1;
export const MANAGED_BY = 'uniprof';
export const ECS_VERSION = '1.12.0';

export const EVENTS_ALL = 'profiling-events-all';
export const STACKTRACES = 'profiling-stacktraces';
export const STACKFRAMES = 'profiling-stackframes';
export const EXECUTABLES = 'profiling-executables';
export const HOSTS = 'profiling-hosts';
export const SYMBOLS_GLOBAL = 'profiling-symbols-global';
export const SYMBOLS_PRIVATE = 'profiling-symbols-private';
export const SQ_EXECUTABLES = 'profiling-sq-executables';
export const SQ_LEAFFRAMES = 'profiling-sq-leafframes';
/**
 * Ours, not the plugin's: the native frames our symbolizer resolves, one document per file and written
 * batch (`profiling-sq-leafframes` holds only stack leaves, one document each, as Elastic's symbolizer reads
 * them). One document per frame made the queue most of Elasticsearch's indexing work.
 */
export const SQ_FRAMESETS = 'profiling-sq-framesets';
export const RETURNPADS_PRIVATE = 'profiling-returnpads-private';
/** Agent metrics (a data stream the profiling plugin defines; Uniprof makes its template, agents' data fills it). */
export const METRICS = 'profiling-metrics';
/** Cost and CO2 factors per cloud instance type (a hidden index the plugin defines, `.profiling-costs`). */
export const COSTS = 'profiling-costs';
export const ILM_POLICY = 'profiling-60-days';
/** When the policy deletes an index (its `delete` phase's `min_age`). */
export const ILM_DELETE_DAYS = 60;

/** The events data stream for a downsampling level: 0 is every event, N holds about 1/5^N of them. */
export function eventsIndex(level: number): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_SAMPLING_LEVEL) {
    throw new Error(`sampling level must be an integer in 0..${MAX_SAMPLING_LEVEL}, got ${level}`);
  }
  return level === 0 ? EVENTS_ALL : `profiling-events-5pow${String(level).padStart(2, '0')}`;
}

export const ALL_EVENT_INDICES = Array.from({ length: MAX_SAMPLING_LEVEL + 1 }, (_, level) =>
  eventsIndex(level),
);

/**
 * Key-value indices: one concrete index per layout version (`.profiling-X-v001-000001`) behind a write
 * alias `profiling-X`, so a new version can roll the alias over and ILM can age old generations out.
 */
export const KEY_VALUE_INDICES = [STACKTRACES, STACKFRAMES, EXECUTABLES, SYMBOLS_GLOBAL] as const;
/** Plain indices, named `.profiling-X-v001` behind an alias `profiling-X` (as the profiling plugin makes them). */
export const PLAIN_INDICES = [
  SQ_EXECUTABLES,
  SQ_LEAFFRAMES,
  SQ_FRAMESETS,
  SYMBOLS_PRIVATE,
  RETURNPADS_PRIVATE,
] as const;

export function concreteIndexName(alias: string, generation = true): string {
  const base = `.${alias}-v${String(INDEX_NAME_VERSION).padStart(3, '0')}`;
  return generation ? `${base}-000001` : base;
}

/** What the cluster offers: the integration-test distribution, for one, has neither ILM nor x-pack mappers. */
export interface ClusterCapabilities {
  ilm: boolean;
  versionFieldType: boolean;
  unsignedLongFieldType: boolean;
  /**
   * Synthetic _source is chosen by the index setting `index.mapping.source.mode` (8.18+, where the
   * `_source.mode` mapping parameter became deprecated) rather than by that mapping parameter (before; 8.12
   * refuses the setting as unknown).
   */
  sourceModeSetting: boolean;
}

/**
 * Replica copies of every index: a fixed count, or an auto-expand range (`0-1`: one replica once the cluster has
 * a second data node, none on a single node — what the profiling plugin does).
 */
export type Replicas = number | string;

/** The default: a single node stays green, a cluster keeps a copy of every shard. */
export const DEFAULT_REPLICAS: Replicas = '0-1';

export interface LayoutSettings {
  eventShards: number;
  keyValueShards: number;
  replicas: Replicas;
  capabilities: ClusterCapabilities;
}

/** The index settings that say `replicas`; a fixed count turns auto-expansion off explicitly. */
export function replicaSettings(replicas: Replicas): {
  number_of_replicas: number;
  auto_expand_replicas: string;
} {
  return typeof replicas === 'number'
    ? { number_of_replicas: replicas, auto_expand_replicas: 'false' }
    : { number_of_replicas: 0, auto_expand_replicas: replicas };
}

type Mapping = Record<string, unknown>;

const keyword = (extra: Mapping = {}): Mapping => ({ type: 'keyword', ...extra });
const notIndexed = { index: false };
/** For fields only ever read back from _source: no index, no doc values. */
const sourceOnly = { index: false, doc_values: false, store: false };
const epochSeconds = (extra: Mapping = {}): Mapping => ({ type: 'date', format: 'epoch_second', ...extra });
/**
 * Events' time. We write epoch seconds; the OpenTelemetry Collector's Elasticsearch exporter writes one event
 * per sample with an ISO-8601 nanosecond timestamp, and the profiling plugin's own events template has
 * mapped `@timestamp` as `date_nanos` since its template version 10. Both writers' events must fit a cluster
 * we set up, so both formats are accepted; epoch seconds comes first, so synthetic source and
 * aggregations still render seconds.
 */
const eventTimestamp: Mapping = {
  type: 'date_nanos',
  format: 'epoch_second||strict_date_optional_time_nanos',
};

function meta(indexVersion = 1): Mapping {
  return {
    'index-template-version': LAYOUT_VERSION,
    'index-version': indexVersion,
    managed: true,
    managed_by: MANAGED_BY,
  };
}

/** Synthetic _source, the way the cluster's version wants it said: an index setting or a mapping parameter. */
function syntheticSource(settings: LayoutSettings): { setting: Mapping; mapping: Mapping } {
  return settings.capabilities.sourceModeSetting
    ? { setting: { 'mapping.source.mode': 'synthetic' }, mapping: {} }
    : { setting: {}, mapping: { _source: { mode: 'synthetic' } } };
}

function baseSettings(settings: LayoutSettings): Mapping {
  return { ...replicaSettings(settings.replicas), refresh_interval: '10s' };
}

function eventsComponent(settings: LayoutSettings): Mapping {
  const synthetic = syntheticSource(settings);
  return {
    settings: {
      index: {
        ...baseSettings(settings),
        number_of_shards: settings.eventShards,
        max_result_window: 150_000,
        ...synthetic.setting,
        sort: {
          field: [
            'profiling.project.id',
            '@timestamp',
            'orchestrator.resource.name',
            'container.name',
            'process.thread.name',
            'host.id',
          ],
        },
      },
      codec: 'best_compression',
    },
    mappings: {
      ...synthetic.mapping,
      _meta: meta(6),
      dynamic: false,
      properties: {
        'ecs.version': keyword(),
        'profiling.project.id': keyword(),
        '@timestamp': eventTimestamp,
        'host.id': keyword(),
        'host.name': keyword(),
        'host.ip': { type: 'ip' },
        'Stacktrace.id': keyword(notIndexed),
        'Stacktrace.count': { type: 'short', ...notIndexed },
        'orchestrator.resource.name': keyword(),
        'k8s.namespace.name': keyword(),
        'container.name': keyword(),
        'container.id': keyword(),
        'process.thread.name': keyword(),
        'process.executable.name': keyword(),
        'agent.version': keyword(),
        'os.kernel': keyword(),
        'service.name': keyword(),
        tags: keyword(),
      },
    },
  };
}

function stacktracesComponent(settings: LayoutSettings): Mapping {
  const synthetic = syntheticSource(settings);
  return {
    settings: {
      index: {
        ...baseSettings(settings),
        number_of_shards: settings.keyValueShards,
        hidden: true,
        ...synthetic.setting,
        sort: { field: ['Stacktrace.frame.ids'] },
      },
    },
    mappings: {
      ...synthetic.mapping,
      _meta: meta(),
      dynamic: false,
      properties: {
        'ecs.version': keyword(),
        'Stacktrace.frame.ids': keyword(notIndexed),
        'Stacktrace.frame.types': keyword(notIndexed),
      },
    },
  };
}

function stackframesComponent(settings: LayoutSettings): Mapping {
  return {
    settings: {
      index: { ...baseSettings(settings), number_of_shards: settings.keyValueShards, hidden: true },
    },
    mappings: {
      // Regular _source: the inline-chain arrays must come back in order, which synthetic source does not keep.
      _source: { enabled: true },
      _meta: meta(),
      dynamic: false,
      properties: {
        'ecs.version': keyword(sourceOnly),
        'Stackframe.function.name': keyword(sourceOnly),
        'Stackframe.file.name': keyword(sourceOnly),
        'Stackframe.line.number': { type: 'integer', ...sourceOnly },
        'Stackframe.function.offset': { type: 'integer', ...sourceOnly },
      },
    },
  };
}

function executablesComponent(settings: LayoutSettings): Mapping {
  const synthetic = syntheticSource(settings);
  return {
    settings: { index: { ...baseSettings(settings), hidden: true, ...synthetic.setting } },
    mappings: {
      ...synthetic.mapping,
      _meta: meta(),
      dynamic: false,
      properties: {
        'ecs.version': keyword(),
        'Executable.build.id': keyword(),
        'Executable.file.name': keyword(),
        '@timestamp': epochSeconds(),
        'Symbolization.next_time': epochSeconds(),
      },
    },
  };
}

function hostsComponent(settings: LayoutSettings): Mapping {
  const version = settings.capabilities.versionFieldType ? { type: 'version' } : keyword();
  const unsignedLong = settings.capabilities.unsignedLongFieldType
    ? { type: 'unsigned_long' }
    : { type: 'long' };
  const ip = { type: 'ip', ignore_malformed: true };
  return {
    settings: {
      index: {
        ...baseSettings(settings),
        sort: { field: ['profiling.project.id', 'host.id', '@timestamp'] },
      },
      codec: 'best_compression',
    },
    mappings: {
      _source: { enabled: true },
      _meta: meta(2),
      dynamic: false,
      properties: {
        'ecs.version': keyword(),
        'host.id': keyword(),
        '@timestamp': epochSeconds(),
        'profiling.project.id': keyword(),
        'profiling.agent.version': version,
        'profiling.agent.revision': keyword(),
        'profiling.agent.build_timestamp': epochSeconds(),
        'profiling.agent.start_time': { type: 'date', format: 'epoch_millis' },
        'profiling.agent.config.probabilistic_threshold': unsignedLong,
        'profiling.agent.config.present_cpu_cores': { type: 'integer' },
        'profiling.host.ip': ip,
        'profiling.host.name': keyword(),
        'profiling.host.machine': keyword(),
        'profiling.host.kernel_version': version,
        'profiling.host.kernel_proc_version': keyword(),
        'profiling.host.tags': keyword(),
        'ec2.instance_type': keyword(),
        'ec2.placement.region': keyword(),
        'azure.compute.vmsize': keyword(),
        'azure.compute.location': keyword(),
        'gce.instance.machine_type': keyword(),
        'gce.instance.zone': keyword(),
      },
    },
  };
}

/**
 * Metrics as the plugin maps them: time-sorted, no _source, and dynamic, because which metrics arrive is the
 * agent's choice and grows over time (the data stream ages out under ILM, so loose mappings do not pile up).
 */
function metricsComponent(settings: LayoutSettings): Mapping {
  return {
    settings: {
      index: {
        ...baseSettings(settings),
        sort: { field: ['profiling.project.id', '@timestamp', 'host.id'] },
      },
      codec: 'best_compression',
    },
    mappings: {
      _source: { enabled: false },
      _meta: meta(1),
      dynamic: true,
      properties: {
        'ecs.version': keyword({ index: true }),
        'profiling.project.id': keyword(),
        'host.id': keyword(),
        '@timestamp': epochSeconds(),
      },
    },
  };
}

/** One document per (provider, region, instance type) with its CO2 and cost factors; looked up by the three keys. */
function costsTemplate(settings: LayoutSettings): Mapping {
  const synthetic = syntheticSource(settings);
  return {
    settings: {
      index: { ...baseSettings(settings), refresh_interval: '30s', hidden: true, ...synthetic.setting },
    },
    mappings: {
      ...synthetic.mapping,
      _meta: meta(1),
      dynamic: false,
      properties: {
        'ecs.version': keyword({ index: true }),
        '@timestamp': { type: 'date', index: true },
        provider: keyword({ index: true }),
        region: keyword({ index: true }),
        instance_type: keyword({ index: true }),
        co2_factor: { type: 'double', index: false },
        cost_factor: { type: 'double', index: false },
      },
    },
  };
}

function symbolsComponent(settings: LayoutSettings): Mapping {
  const address = settings.capabilities.unsignedLongFieldType
    ? { type: 'unsigned_long', ...sourceOnly }
    : keyword(sourceOnly);
  return {
    settings: {
      index: { ...baseSettings(settings), number_of_shards: settings.keyValueShards, hidden: true },
    },
    mappings: {
      // ip_range has no synthetic source.
      _source: { enabled: true },
      _meta: meta(),
      dynamic: false,
      properties: {
        'ecs.version': keyword(sourceOnly),
        'Symbol.function.name': keyword(sourceOnly),
        'Symbol.file.name': keyword(sourceOnly),
        'Symbol.call.file.name': keyword(sourceOnly),
        'Symbol.call.line': { type: 'integer', ...sourceOnly },
        'Symbol.function.line': { type: 'integer', ...sourceOnly },
        'Symbol.depth': { type: 'integer', ...sourceOnly },
        'Symbol.linetable.base': address,
        'Symbol.linetable.length': address,
        'Symbol.linetable.offsets': keyword(sourceOnly),
        'Symbol.linetable.lines': keyword(sourceOnly),
        'Symbol.file.id': { type: 'keyword', index: true, doc_values: false, store: false },
        'Symbol.exec.pcrange': { type: 'ip_range', index: true, doc_values: false, store: false },
        ...symbolsLookupProperties(),
      },
    },
  };
}

/** Ours on the symbols indices: the lookup buckets of a range (see symbol-documents.ts). */
export function symbolsLookupProperties(): Mapping {
  return { 'uniprof.symbols.buckets': keyword({ index: true, doc_values: false }) };
}

/**
 * The symbolization queue. The plugin's fields (`Time.created`, `Symbolization.time.next`, `Symbolization.retries`)
 * plus ours: on the executables queue the lease and the last attempt's reason (see symbolization.ts), on the
 * frames queue the file ID so one file's frames can be found. They are mapped, not left to `dynamic: false`,
 * because before 8.15 synthetic source drops unmapped fields, and the lease is searched on.
 */
export type QueueKind = 'executables' | 'leafframes' | 'framesets';

export function queueProperties(kind: QueueKind): Mapping {
  if (kind === 'framesets') {
    return {
      'ecs.version': keyword(sourceOnly),
      'Executable.file.id': keyword(),
      'Time.created': { type: 'date' },
      // The frames' addresses in the file, packed (see symbol-documents.ts): read from _source, never searched.
      'uniprof.addresses': keyword(sourceOnly),
      'uniprof.leaf_addresses': keyword(sourceOnly),
      // Summed for the backlog.
      'uniprof.frame_count': { type: 'integer', index: false },
      'uniprof.leaf_count': { type: 'integer', index: false },
    };
  }
  const common: Mapping = {
    'ecs.version': keyword(),
    'Time.created': { type: 'date' },
    'Symbolization.time.next': { type: 'date' },
    'Symbolization.retries': { type: 'short' },
  };
  if (kind === 'leafframes') {
    return { ...common, 'Stacktrace.frame.id': keyword(notIndexed), 'Executable.file.id': keyword() };
  }
  return {
    ...common,
    'Executable.file.id': keyword(notIndexed),
    'Executable.file.name': keyword(notIndexed),
    'Executable.build.id': keyword(notIndexed),
    'uniprof.lease.owner': keyword(),
    'uniprof.lease.id': keyword(notIndexed),
    'uniprof.lease.until': { type: 'date' },
    'uniprof.reason': keyword(),
    'uniprof.queued': { type: 'date' },
    'uniprof.frames_queued': { type: 'boolean' },
  };
}

export function queueTemplate(settings: LayoutSettings, kind: QueueKind): Mapping {
  // The address lists have no doc values for synthetic source to rebuild them from.
  if (kind === 'framesets') return regularSourceTemplate(settings, queueProperties(kind));
  const synthetic = syntheticSource(settings);
  return {
    settings: { index: { ...baseSettings(settings), hidden: true, ...synthetic.setting } },
    mappings: { ...synthetic.mapping, _meta: meta(), dynamic: false, properties: queueProperties(kind) },
  };
}

function returnpadsTemplate(settings: LayoutSettings): Mapping {
  return regularSourceTemplate(settings, {
    'ecs.version': keyword(sourceOnly),
    'Symbfile.created': { type: 'date', index: true, doc_values: false, store: false },
    'Symbfile.file.id': { type: 'keyword', index: true, doc_values: false, store: false },
    'Symbfile.file.id_str': { type: 'keyword', index: true, doc_values: false, store: false },
    'Symbfile.part': { type: 'short', ...sourceOnly },
    'Symbfile.parts': { type: 'short', ...sourceOnly },
    'Symbfile.data': { type: 'binary', doc_values: false, store: false },
  });
}

/** A hidden index of ours that keeps its regular `_source`, mapping only `properties`. */
function regularSourceTemplate(settings: LayoutSettings, properties: Mapping): Mapping {
  return {
    settings: { index: { ...baseSettings(settings), hidden: true } },
    mappings: { _source: { enabled: true }, _meta: meta(), dynamic: false, properties },
  };
}

export interface ComponentTemplate {
  name: string;
  template: Mapping;
}

export interface IndexTemplate {
  name: string;
  body: Mapping;
}

export function componentTemplates(settings: LayoutSettings): ComponentTemplate[] {
  const ilmSettings = settings.capabilities.ilm ? { index: { lifecycle: { name: ILM_POLICY } } } : {};
  return [
    { name: 'profiling-events', template: eventsComponent(settings) },
    { name: 'profiling-stacktraces', template: stacktracesComponent(settings) },
    { name: 'profiling-stackframes', template: stackframesComponent(settings) },
    { name: 'profiling-executables', template: executablesComponent(settings) },
    { name: 'profiling-hosts', template: hostsComponent(settings) },
    { name: 'profiling-symbols', template: symbolsComponent(settings) },
    { name: 'profiling-ilm', template: { settings: ilmSettings } },
    { name: METRICS, template: metricsComponent(settings) },
  ];
}

const CUSTOM_ILM = 'profiling-ilm@custom';

function composed(components: string[], extra: Mapping = {}): Mapping {
  return {
    composed_of: [...components, CUSTOM_ILM],
    ignore_missing_component_templates: [CUSTOM_ILM],
    priority: 100,
    ...extra,
  };
}

function rolloverAlias(alias: string): Mapping {
  return { template: { settings: { index: { 'lifecycle.rollover_alias': alias } } } };
}

/**
 * Shards of each `profiling-events-5powNN` data stream: level 1 holds about a fifth of the events, so a fifth
 * of level 0's shards keeps as many events per shard (the deeper levels hold fewer still). Every shard costs
 * its own refreshes, flushes and a share of each bulk request that carries one of its events, which four
 * shards of a level holding a few hundred events a minute spend for nothing. Readers name the data streams,
 * not shards, so the plugin's and Kibana's queries are unaffected.
 */
export function downsampledEventShards(eventShards: number): number {
  return Math.max(1, Math.ceil(eventShards / 5));
}

export function indexTemplates(settings: LayoutSettings): IndexTemplate[] {
  const withAlias = (alias: string): Mapping => (settings.capabilities.ilm ? rolloverAlias(alias) : {});
  return [
    {
      name: 'profiling-events',
      body: composed(['profiling-events', 'profiling-ilm'], {
        index_patterns: ['profiling-events*'],
        data_stream: { hidden: false },
      }),
    },
    {
      name: 'profiling-events-downsampled',
      body: composed(['profiling-events', 'profiling-ilm'], {
        index_patterns: ['profiling-events-5pow*'],
        data_stream: { hidden: false },
        priority: 101,
        template: { settings: { index: { number_of_shards: downsampledEventShards(settings.eventShards) } } },
      }),
    },
    {
      name: 'profiling-hosts',
      body: composed(['profiling-hosts', 'profiling-ilm'], {
        index_patterns: ['profiling-hosts*'],
        data_stream: {},
      }),
    },
    ...[STACKTRACES, STACKFRAMES, EXECUTABLES].map((alias) => ({
      name: alias,
      body: composed([alias, 'profiling-ilm'], { index_patterns: [`.${alias}*`], ...withAlias(alias) }),
    })),
    {
      name: SYMBOLS_GLOBAL,
      body: composed(['profiling-symbols', 'profiling-ilm'], {
        index_patterns: [`.${SYMBOLS_GLOBAL}*`],
        ...withAlias(SYMBOLS_GLOBAL),
      }),
    },
    {
      name: SYMBOLS_PRIVATE,
      body: { index_patterns: [`.${SYMBOLS_PRIVATE}*`], composed_of: ['profiling-symbols'], priority: 100 },
    },
    {
      name: SQ_EXECUTABLES,
      body: {
        index_patterns: [`.${SQ_EXECUTABLES}*`],
        template: queueTemplate(settings, 'executables'),
        priority: 100,
      },
    },
    {
      name: SQ_LEAFFRAMES,
      body: {
        index_patterns: [`.${SQ_LEAFFRAMES}*`],
        template: queueTemplate(settings, 'leafframes'),
        priority: 100,
      },
    },
    {
      name: SQ_FRAMESETS,
      body: {
        index_patterns: [`.${SQ_FRAMESETS}*`],
        template: queueTemplate(settings, 'framesets'),
        priority: 100,
      },
    },
    {
      name: METRICS,
      body: {
        index_patterns: [`${METRICS}*`],
        data_stream: {},
        composed_of: [METRICS, `${METRICS}@custom`, 'profiling-ilm', CUSTOM_ILM],
        ignore_missing_component_templates: [`${METRICS}@custom`, CUSTOM_ILM],
        priority: 100,
      },
    },
    {
      name: COSTS,
      body: { index_patterns: [`.${COSTS}*`], template: costsTemplate(settings), priority: 100 },
    },
    {
      name: RETURNPADS_PRIVATE,
      body: {
        index_patterns: [`.${RETURNPADS_PRIVATE}*`],
        template: returnpadsTemplate(settings),
        priority: 100,
      },
    },
  ];
}

/** Hot for 30 days (rolled over monthly or at 50 GB a shard), then warm, deleted at 60 days. */
export function ilmPolicy(): Mapping {
  return {
    phases: {
      hot: {
        actions: {
          rollover: { max_primary_shard_size: '50gb', max_age: '30d', min_docs: 1 },
          set_priority: { priority: 100 },
        },
      },
      warm: { min_age: '30d', actions: { set_priority: { priority: 50 } } },
      delete: { min_age: `${ILM_DELETE_DAYS}d`, actions: { delete: {} } },
    },
    _meta: {
      description: 'Universal Profiling retention (uniprof)',
      managed: true,
      managed_by: MANAGED_BY,
      version: LAYOUT_VERSION,
    },
  };
}
