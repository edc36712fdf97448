import type { Config } from '../config/config.ts';
import type { Store } from '../store/store.ts';
import { createSymbolizerService, type SymbolizerService } from '../symbolizer/service/service.ts';
import type { Logger } from './logger.ts';
import { resolveUploadToken } from './secret-token.ts';

export interface StartedSymbolizer {
  service: SymbolizerService;
  httpAddress: string;
  /** Where the generated upload token is kept (never the token itself). */
  uploadTokenFile?: string;
}

/** The symbolizer service on `store`, with its upload token resolved as the CLI does. */
export async function startSymbolizerService(
  config: Config,
  store: Store,
  logger: Logger,
  manageStore: boolean,
): Promise<StartedSymbolizer> {
  const { token, generatedAt } = resolveUploadToken(config.symbolizer.uploadToken, config.dataDir);
  const service = createSymbolizerService({ config, store, logger, manageStore, uploadToken: token });
  const { httpAddress } = await service.start();
  return { service, httpAddress, uploadTokenFile: generatedAt };
}

/** The banner lines that say where the symbolizer is. */
export function symbolizerBanner(started: StartedSymbolizer): string[] {
  return [
    `  symbolizer  ${started.httpAddress}  (health, ready, metrics; owner ${started.service.owner})`,
    `  symbol upload token ${started.uploadTokenFile ? `in ${started.uploadTokenFile}` : 'from symbolizer.uploadToken'}`,
  ];
}
