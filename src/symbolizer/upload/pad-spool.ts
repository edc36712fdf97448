/**
 * Where an upload's return pads wait while its ranges are stored. The pads come after the ranges in the
 * stream, but they can only be stored after the ranges are (storing symbols drops a file's pads), and a
 * rejected pad (or a truncated end) must still roll the ranges back: so the pad chunks are checked and kept
 * while the ranges' write is open, then stored once it committed. They are kept as their wire bytes in a
 * temporary file, so the server's memory stays bounded by one message whatever the number of pads.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReturnPad } from '../../model/symbols.ts';
import { decodePadMessage } from './decode.ts';
import type { UploadLimits } from './format.ts';

export class PadSpool {
  private written = 0;

  private constructor(
    private readonly dir: string,
    private readonly file: FileHandle,
  ) {}

  static async create(parent = tmpdir()): Promise<PadSpool> {
    const dir = await mkdtemp(join(parent, 'uniprof-pads-'));
    try {
      return new PadSpool(dir, await open(join(dir, 'pads'), 'w+'));
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Keeps one pad chunk message (as `SymbolUploadDecoder.padChunks()` gave it). */
  async write(message: Buffer): Promise<void> {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(message.length);
    await this.file.write(length, 0, 4, this.written);
    await this.file.write(message, 0, message.length, this.written + 4);
    this.written += 4 + message.length;
  }

  /** The kept pads, a chunk at a time, in the order they were written. */
  async *pads(limits: Partial<UploadLimits>): AsyncGenerator<ReturnPad[]> {
    const length = Buffer.alloc(4);
    for (let at = 0; at < this.written;) {
      await this.file.read(length, 0, 4, at);
      const message = Buffer.alloc(length.readUInt32LE(0));
      await this.file.read(message, 0, message.length, at + 4);
      at += 4 + message.length;
      yield decodePadMessage(message, limits);
    }
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
