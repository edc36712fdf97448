import type { Config } from '../config/config.ts';
import { createStore, describeStore } from '../store/open-store.ts';
import { createLogger } from './logger.ts';
import { startSymbolizerService, symbolizerBanner } from './symbolizer-service.ts';

/** Start-up failures that are the user's to fix: printed as a message, not a stack. */
export class SymbolizerStartError extends Error {
  override readonly name = 'SymbolizerStartError';
}

/** DuckDB's words when another process holds the database file. */
const LOCKED = /could not set lock|conflicting lock/i;

/**
 * `uniprof symbolizer`: opens the configured store itself and runs the worker and its HTTP server until
 * SIGTERM / SIGINT. On the embedded store the DuckDB file can be open in one process only, so this is for a
 * store no `serve` or `collector` has open (`uniprof serve` runs the symbolizer in-process instead).
 */
export async function runSymbolizer(config: Config): Promise<{ stop(): Promise<void> }> {
  const logger = createLogger(config.log.level);
  const store = createStore(config, logger);
  let started;
  try {
    started = await startSymbolizerService(config, store, logger, true);
  } catch (error) {
    const message = (error as Error).message;
    if (config.output.type === 'embedded' && LOCKED.test(message)) {
      throw new SymbolizerStartError(
        `the embedded store is in use by another process (${describeStore(config)}).\n` +
          `  The DuckDB file can be open in one process only: 'uniprof serve' already runs the symbolizer\n` +
          `  in-process (symbolizer.enabled); run 'uniprof symbolizer' only on a store nothing else has open.\n` +
          `  DuckDB said: ${message}`,
        { cause: error },
      );
    }
    throw error;
  }
  console.log('uniprof symbolizer is running');
  for (const line of symbolizerBanner(started)) console.log(line);
  console.log(`  store       ${describeStore(config)}`);
  console.log(`  data dir    ${config.dataDir}`);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= started.service.stop().then(
      () => logger.info('stopped cleanly'),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exitCode = 1;
      },
    ));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop());
  return { stop };
}
