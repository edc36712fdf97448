/**
 * Uniprof's launchers start Node.js with the flags of scripts/package/node-flags.ts, which the benches and the
 * soak measure with: the release launcher (.deb, .rpm, container image, release archives) and `npm start`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { NODE_FLAGS } from '../../scripts/package/node-flags.ts';

const root = new URL('../../', import.meta.url);

/** The words between `node` and the script in a command line. */
function flagsBefore(command: string, script: string): string[] {
  const words = command.trim().split(/\s+/);
  const node = words.findIndex(
    (word) => word === 'node' || word.endsWith('/bin/node"') || word.endsWith('/node'),
  );
  const at = words.findIndex((word) => word.includes(script));
  assert.ok(node >= 0 && at > node, `no "node … ${script}" in: ${command}`);
  return words.slice(node + 1, at);
}

describe('Node flags of the launchers', () => {
  it('the release launcher runs the program with them', () => {
    const launcher = readFileSync(new URL('scripts/package/launcher.sh', root), 'utf8');
    const exec = launcher.split('\n').find((line) => line.startsWith('exec '));
    assert.ok(exec, 'the launcher ends in an exec line');
    assert.deepEqual(flagsBefore(exec, 'bin/uniprof.mjs'), NODE_FLAGS);
  });

  it('npm start runs uniprof serve with them', () => {
    const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.deepEqual(flagsBefore(manifest.scripts.start, 'bin/uniprof.mjs'), NODE_FLAGS);
  });
});
