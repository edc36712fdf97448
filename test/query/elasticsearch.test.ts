import { rm } from 'node:fs/promises';
import { startElasticsearch } from '../peers/elasticsearch.ts';
import { storeFor, tempDir } from '../store-elasticsearch/helpers.ts';
import { writeFixture } from './fixture.ts';
import { queryLayerSuite } from './suite.ts';

/** The same query-layer assertions as over the embedded store, through the Elasticsearch store. */
queryLayerSuite('Elasticsearch', async () => {
  const peer = await startElasticsearch();
  const spoolDir = await tempDir('query-es');
  const store = storeFor(peer, spoolDir);
  try {
    await store.open();
    await writeFixture(store);
    await store.flush();
  } catch (error) {
    await peer.dispose();
    throw error;
  }
  return {
    store,
    close: async () => {
      await store.close();
      await peer.dispose();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
});
