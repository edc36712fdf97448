/**
 * `collector.record` (`--record-dir DIR`): keeps a copy of every acknowledged export request as a binary
 * protobuf file, `NNNNNNNNN.binpb` in arrival order, so that a fleet's real traffic can be replayed through
 * the comparison with the reference exporter (`npm run compat:es -- --requests DIR`) or any other tool.
 * Off unless configured. Bounded: once the files written reach `maxBytes`, recording stops (logged once)
 * and requests are still acknowledged as usual; a failing disk is logged, never fails a request.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export interface RecordOptions {
  dir: string;
  /** Stop recording once this many bytes were written (default 256 MiB). */
  maxBytes: number;
}

export const DEFAULT_RECORD_MAX_BYTES = 256 * 1024 * 1024;

export class RequestRecorder {
  private written = 0;
  private next: number;
  private full = false;
  private failed = false;

  constructor(
    private readonly options: RecordOptions,
    private readonly logger: Logger,
  ) {
    mkdirSync(options.dir, { recursive: true });
    // Continue after the files a previous run left, so a restart never overwrites them.
    const numbers = readdirSync(options.dir)
      .map((name) => /^(\d+)\.binpb$/.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number);
    this.next = numbers.length > 0 ? Math.max(...numbers) + 1 : 0;
  }

  /** Writes the request in the background; the caller never waits for the disk. */
  record(body: Uint8Array): void {
    if (this.full || this.failed) return;
    if (this.written + body.byteLength > this.options.maxBytes) {
      this.full = true;
      this.logger.warn(
        { dir: this.options.dir, bytes: this.written, maxBytes: this.options.maxBytes },
        'request recording stopped: collector.record.maxBytes reached',
      );
      return;
    }
    this.written += body.byteLength;
    const file = path.join(this.options.dir, `${String(this.next++).padStart(9, '0')}.binpb`);
    writeFile(file, body).catch((error: unknown) => {
      if (this.failed) return;
      this.failed = true;
      this.logger.error({ err: error, file }, 'request recording stopped: cannot write the file');
    });
  }
}
