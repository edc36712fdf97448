/** A real symbol upload server for tests: fastify on a free loopback port over a real embedded store. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import type { UploadLimits } from '../../src/symbolizer/upload/format.ts';
import { registerSymbolUploadRoutes, type SymbolUploadEvent } from '../../src/symbolizer/upload/routes.ts';

export interface UploadServer {
  url: string;
  token: string;
  store: EmbeddedStore;
  events: SymbolUploadEvent[];
  close(): Promise<void>;
}

export async function startUploadServer(
  options: { maxUploadBytes?: number; limits?: Partial<UploadLimits>; token?: string } = {},
): Promise<UploadServer> {
  const dir = mkdtempSync(join(tmpdir(), 'uniprof-upload-'));
  const store = new EmbeddedStore({ path: join(dir, 'store.duckdb') });
  await store.open();
  const app = Fastify();
  const events: SymbolUploadEvent[] = [];
  const token = options.token ?? 'upload-token-for-tests';
  await registerSymbolUploadRoutes(app, {
    symbolization: store.symbolization,
    uploadToken: token,
    maxUploadBytes: options.maxUploadBytes ?? 512 * 1024 * 1024,
    limits: options.limits,
    logger: pino({ level: 'silent' }),
    onUpload: (event) => events.push(event),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    token,
    store,
    events,
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
