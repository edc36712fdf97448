/**
 * The artifacts of `npm run package` for the tests: built once per change of the tree (they carry a hash of
 * their inputs, scripts/package/inputs.ts), so a second run, or a developer's earlier `npm run package` of
 * the same tree, is reused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputsHash, ROOT } from '../../scripts/package/inputs.ts';

export const ARTIFACTS = join(ROOT, 'artifacts');

export function releaseArtifacts(): string {
  const stamp = join(ARTIFACTS, '.inputs-sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputsHash()) return ARTIFACTS;
  const started = Date.now();
  const result = spawnSync('npm', ['run', 'package'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0)
    throw new Error(
      `npm run package failed (${result.status}):\n${result.stdout}\n${result.stderr}`.slice(-8000),
    );
  console.log(`npm run package: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return ARTIFACTS;
}
