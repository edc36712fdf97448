/**
 * Extra routes on the symbolizer's HTTP server. The symbol upload endpoint (`symbtool push-symbols`) plugs
 * in here: add its registration to SYMBOL_ROUTES and both `uniprof symbolizer` and `uniprof serve` serve it.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { SymbolizationStore } from '../../store/symbolization.ts';
import { symbolUploadRoutes } from '../upload/routes.ts';
import type { SymbolizerMetrics } from './metrics.ts';

export interface SymbolRoutesContext {
  store: SymbolizationStore;
  metrics: SymbolizerMetrics;
  /** The bearer token uploads must present (symbolizer.uploadToken, or the generated one). */
  uploadToken: string;
  /** symbolizer.maxUploadBytes. */
  maxUploadBytes: number;
  logger: Logger;
  /** Tells the worker to look at the queue now (after symbols were stored). */
  wakeWorker(): void;
}

export type SymbolRoutes = (app: FastifyInstance, context: SymbolRoutesContext) => void | Promise<void>;

/** Route sets every symbolizer HTTP server registers: symbol upload (`POST`/`GET /api/v1/symbols/{fileId}`). */
export const SYMBOL_ROUTES: readonly SymbolRoutes[] = [symbolUploadRoutes];
