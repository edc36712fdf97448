import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { EmbeddedStore } from './embedded/index.ts';
import { ElasticsearchStore } from './elasticsearch/index.ts';
import type { Store } from './store.ts';

function embeddedPath(config: Config): string {
  return config.output.embedded.path ?? join(config.dataDir, 'uniprof.duckdb');
}

/** The store the configuration names, not yet opened. */
export function createStore(config: Config, logger: Logger): Store {
  switch (config.output.type) {
    case 'embedded':
      return new EmbeddedStore({
        path: embeddedPath(config),
        commitIntervalMs: config.output.embedded.commitIntervalMs,
        commitEventThreshold: config.output.embedded.commitEventThreshold,
        memoryLimit: config.output.embedded.memoryLimit,
        threads: config.output.embedded.threads,
      });
    case 'elasticsearch': {
      const es = config.output.elasticsearch;
      return new ElasticsearchStore({
        ...es,
        spoolDir: es.spoolDir ?? join(config.dataDir, 'elasticsearch-spool'),
        logger: logger.child({ component: 'elasticsearch' }),
      });
    }
  }
}

/** Where the store keeps its data, for the start-up banner. */
export function describeStore(config: Config): string {
  return config.output.type === 'embedded'
    ? `embedded DuckDB at ${embeddedPath(config)}`
    : `Elasticsearch at ${config.output.elasticsearch.hosts.join(', ')}`;
}
