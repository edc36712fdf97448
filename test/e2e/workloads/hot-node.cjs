// Node.js workload for the agent end-to-end test: spends its time in uniprofNodeHot.
/* global process */
'use strict';

function uniprofNodeHot(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}

const deadline = Date.now() + Number(process.argv[2]) * 1000;
let sink = 0;
while (Date.now() < deadline) sink += uniprofNodeHot(1_000_000);
process.stdout.write(`${sink > 0 ? 'done' : 'done.'}\n`);
