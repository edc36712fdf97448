import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { EmbeddedStore } from './embedded/index.ts';
import type { Store } from './store.ts';

/** The store the configuration names, not yet opened. */
export function createStore(config: Config): Store {
  switch (config.output.type) {
    case 'embedded':
      return new EmbeddedStore({
        path: config.output.embedded.path ?? join(config.dataDir, 'uniprof.duckdb'),
      });
    case 'elasticsearch':
      throw new Error('the Elasticsearch store is not available in this build');
  }
}

/** Where the store keeps its data, for the start-up banner. */
export function describeStore(config: Config): string {
  return config.output.type === 'embedded'
    ? `embedded DuckDB at ${config.output.embedded.path ?? join(config.dataDir, 'uniprof.duckdb')}`
    : `Elasticsearch at ${config.output.elasticsearch.hosts.join(', ')}`;
}
