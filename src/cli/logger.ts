import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr, so stdout stays for what a command prints for its user (URLs, figures). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'uniprof' } }, pino.destination(2));
}
