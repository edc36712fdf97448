import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

const LOGGER = new URL('../../src/cli/logger.ts', import.meta.url).href;

it('redacts the credentials of a request from log lines, wherever its headers are logged', () => {
  // The logger writes to stderr (fd 2) itself: run it in a child and read what it wrote.
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOGGER)});
    const log = createLogger('info');
    const headers = { authorization: 'Bearer secret-a', cookie: 'uniprof_session=secret-b', 'set-cookie': 'secret-c', host: 'kept' };
    log.info({ req: { headers } }, 'req');
    log.info({ res: { headers } }, 'res');
    log.info({ headers }, 'bare');
    log.info({ request: { headers } }, 'request');
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(child.status, 0, child.stderr);
  const lines = child.stderr.trim().split('\n');
  assert.equal(lines.length, 4, child.stderr);
  for (const secret of ['secret-a', 'secret-b', 'secret-c'])
    assert.ok(!child.stderr.includes(secret), secret);
  assert.equal((child.stderr.match(/"host":"kept"/g) ?? []).length, 4, 'other headers stay');
});
