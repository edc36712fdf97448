/**
 * The store suite (store.test.ts) again, against the oldest Elasticsearch Uniprof supports: templates,
 * writes and reads must work on 8.12 as on 8.19. One 8.12 node for this test process.
 */
import { OLDEST_ELASTICSEARCH_VERSION, VERSION_VARIABLE } from '../peers/elasticsearch.ts';

process.env[VERSION_VARIABLE] = OLDEST_ELASTICSEARCH_VERSION;
await import('./store.test.ts');
