/**
 * Runs one retention pass over the store at argv[2] (cutoff argv[3], batch rows argv[4]) and kills itself with
 * SIGKILL right after the argv[6]-th transaction of phase argv[5] committed: a crash mid-run, with DuckDB's write-ahead log as it is.
 */
import { EmbeddedStore } from '../../src/store/embedded/index.ts';
import { applyRetention } from '../../src/store/embedded/retention.ts';

const [path, cutoff, batchRows, crashPhase, crashAfter] = process.argv.slice(2);
let inPhase = 0;
const store = new EmbeddedStore({ path, seed: 1 });
await store.open();
const result = await applyRetention(store, {
  cutoff: Number(cutoff),
  batchRows: Number(batchRows),
  afterTransaction: (_done, phase) => {
    if (phase === crashPhase && ++inPhase === Number(crashAfter)) process.kill(process.pid, 'SIGKILL');
  },
});
// Reached only when the run had fewer transactions than asked to crash after.
console.log(JSON.stringify(result));
await store.close();
