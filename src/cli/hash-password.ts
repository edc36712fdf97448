import { text } from 'node:stream/consumers';
import { hashPassword } from '../api/index.ts';

/**
 * `uniprof hash-password`: the password comes on standard input (never as an argument, which other users
 * see in the process list); one trailing newline, as `echo` adds, is not part of it.
 */
export async function runHashPassword(): Promise<void> {
  const password = (await text(process.stdin)).replace(/\r?\n$/, '');
  if (password.length === 0) {
    console.error('uniprof hash-password: no password on standard input');
    process.exitCode = 2;
    return;
  }
  console.log(await hashPassword(password));
}
