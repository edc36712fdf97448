import { errors, type Client } from '@elastic/elasticsearch';
import { StoreUnavailableError, type StoredSetting } from '../store.ts';

/**
 * Server-wide settings on Elasticsearch: one document per setting in a small hidden index of Uniprof's own,
 * outside the profiling layout (no template of Elastic's matches its name, so the profiling plugin's indices stay
 * as it defines them) but under `profiling-*`, so the privileges the store already needs cover it.
 * Reads are real-time GETs by ID, so every collector on the cluster sees a write as soon as it returned.
 */
export const SETTINGS_INDEX = 'profiling-uniprof-settings';

const SETTINGS_INDEX_BODY = {
  settings: { index: { number_of_shards: 1, auto_expand_replicas: '0-1', hidden: true } },
  // The value is kept as JSON text: its shape belongs to the setting's owner, not to a mapping.
  mappings: {
    dynamic: 'strict' as const,
    properties: {
      record: { type: 'keyword' as const, index: false, doc_values: false },
      updated_at: { type: 'date' as const, format: 'epoch_second' },
    },
  },
};

function isConnectivityError(error: unknown): boolean {
  if (error instanceof errors.ConnectionError || error instanceof errors.TimeoutError) return true;
  if (error instanceof errors.NoLivingConnectionsError) return true;
  return error instanceof errors.ResponseError && (error.statusCode === 503 || error.statusCode === 502);
}

function unavailable(error: unknown): unknown {
  return isConnectivityError(error)
    ? new StoreUnavailableError(`Elasticsearch is unreachable: ${(error as Error).message}`, { cause: error })
    : error;
}

export class ElasticsearchSettings {
  private indexReady = false;

  constructor(private readonly client: Client) {}

  async read(name: string): Promise<StoredSetting | undefined> {
    try {
      const response = await this.client.get<{ record: string }>(
        { index: SETTINGS_INDEX, id: name },
        { ignore: [404] },
      );
      if (!response.found || !response._source) return undefined;
      return JSON.parse(response._source.record) as StoredSetting;
    } catch (error) {
      throw unavailable(error);
    }
  }

  async write(name: string, setting: StoredSetting): Promise<void> {
    try {
      await this.ensureIndex();
      await this.client.index({
        index: SETTINGS_INDEX,
        id: name,
        document: { record: JSON.stringify(setting), updated_at: Math.floor(setting.updatedAt) },
        refresh: 'wait_for',
      });
    } catch (error) {
      throw unavailable(error);
    }
  }

  private async ensureIndex(): Promise<void> {
    if (this.indexReady) return;
    try {
      await this.client.indices.create({ index: SETTINGS_INDEX, ...SETTINGS_INDEX_BODY });
    } catch (error) {
      const type = error instanceof errors.ResponseError ? error.body?.error?.type : undefined;
      if (type !== 'resource_already_exists_exception') throw error;
    }
    this.indexReady = true;
  }
}
