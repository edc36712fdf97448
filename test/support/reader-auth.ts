/**
 * Reader credentials for tests: one helper every test that reads the query API or the UI uses, in-process
 * (a known token and user on a fastify app) or against a spawned `uniprof serve` (the generated token).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { hashPassword, ReaderAccess, registerReaderAuth } from '../../src/api/index.ts';

export const TEST_READ_TOKEN = 'test-read-token-0123456789abcdef';
export const TEST_USER = { name: 'reader', password: 'correct horse battery staple' };

let testHash: Promise<string> | undefined;

/** The known user and read token (scrypt hashing done once per test process). */
export async function testReaderAccess(
  options: Partial<ConstructorParameters<typeof ReaderAccess>[0]> = {},
): Promise<ReaderAccess> {
  testHash ??= hashPassword(TEST_USER.password);
  return new ReaderAccess({
    users: { [TEST_USER.name]: await testHash },
    tokens: [TEST_READ_TOKEN],
    ...options,
  });
}

/** Reader auth with the test credentials on an app, before its query API and UI are registered. */
export async function withTestReaders(app: FastifyInstance): Promise<ReaderAccess> {
  const access = await testReaderAccess();
  await registerReaderAuth(app, access);
  return access;
}

export function bearer(token: string = TEST_READ_TOKEN): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** The read token `uniprof serve` generated into its data directory. */
export function generatedReadToken(dataDir: string): string {
  return readFileSync(join(dataDir, 'read-token'), 'utf8').trim();
}
