import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const OWNER_FILE = 'symbolizer-id';

/**
 * The symbolizer's lease owner: kept in `<dataDir>/symbolizer-id`, so the same installation asks for work
 * under the same name after a restart and takes back at once what it held when it died (see
 * `SymbolizationStore.leaseExecutables`). Two symbolizers must therefore not share a data directory.
 */
export function symbolizerOwner(dataDir: string): string {
  const file = join(dataDir, OWNER_FILE);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  // The host name only helps a person reading the store; the random part makes it unique.
  const owner = `${hostname()}-${randomBytes(8).toString('hex')}`;
  writeFileSync(file, `${owner}\n`);
  return owner;
}
