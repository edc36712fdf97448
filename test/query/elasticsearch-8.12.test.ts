/**
 * The query-layer suite over the Elasticsearch store (elasticsearch.test.ts) again, against the oldest
 * Elasticsearch Uniprof supports. One 8.12 node for this test process.
 */
import { OLDEST_ELASTICSEARCH_VERSION, VERSION_VARIABLE } from '../peers/elasticsearch.ts';

process.env[VERSION_VARIABLE] = OLDEST_ELASTICSEARCH_VERSION;
await import('./elasticsearch.test.ts');
