/**
 * `npm run bench`: runs every `bench:<name>` script of package.json in turn, so a new benchmark joins the set by
 * being declared there. Pass names to run only those: `npm run bench -- ingest query`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const scripts = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
const wanted = process.argv.slice(2);
const names = Object.keys(scripts)
  .filter((name) => name.startsWith('bench:'))
  .filter((name) => wanted.length === 0 || wanted.includes(name.slice('bench:'.length)));

let failed = 0;
for (const name of names) {
  console.log(`\n=== ${name} ===`);
  const result = spawnSync('npm', ['run', '--silent', name], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.log(`${name} failed (exit ${result.status})`);
  }
}
if (names.length === 0) console.log(`no benchmark matches ${wanted.join(', ')}`);
process.exitCode = failed > 0 ? 1 : 0;
