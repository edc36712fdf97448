export { ElasticsearchStore } from './elasticsearch-store.ts';
export type { ElasticsearchStoreOptions, StoreLogger } from './options.ts';
export { InvalidBatchError } from './documents.ts';
export * as layout from './layout.ts';
