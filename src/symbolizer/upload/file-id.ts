/**
 * The agent's file ID of an executable, computed as `libpf.FileIDFromExecutableReader` does in
 * go.opentelemetry.io/ebpf-profiler (read at v0.0.202633, libpf/fileid.go): the first 16 bytes of
 * SHA-256 over the file's first 4 KiB, its last 4 KiB and its length as a big-endian uint64. Files under
 * 8 KiB have bytes hashed twice (head and tail overlap) and files under 4 KiB are hashed whole, twice.
 *
 * The agent reports it as 32 hex digits (`process.executable.build_id.htlhash`, the bytes in order); the
 * model stores it as base64url of the same 16 bytes (src/model/ids.ts). Any difference here means uploaded
 * symbols never meet the agent's frames, so the tests check it against an independent implementation.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FILE_ID_BYTES, toBase64Url } from '../../model/ids.ts';

/** Bytes hashed from each end of the file. */
export const FILE_ID_PART_BYTES = 4096;

export interface ExecutableFileId {
  /** base64url, as the model and the stores keep it. */
  fileId: string;
  /** 32 hex digits, as the agent sends it. */
  hex: string;
}

function readFully(fd: number, buffer: Buffer, position: number): void {
  let done = 0;
  while (done < buffer.length) {
    const n = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) throw new Error(`file shrank while its ID was computed (short read at ${position + done})`);
    done += n;
  }
}

export function fileIdOfExecutable(path: string): ExecutableFileId {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const hash = createHash('sha256');
    const head = Buffer.alloc(Math.min(size, FILE_ID_PART_BYTES));
    readFully(fd, head, 0);
    hash.update(head);
    const tail = Buffer.alloc(Math.min(size, FILE_ID_PART_BYTES));
    readFully(fd, tail, size - tail.length);
    hash.update(tail);
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(size));
    hash.update(length);
    const id = hash.digest().subarray(0, FILE_ID_BYTES);
    return { fileId: toBase64Url(id), hex: id.toString('hex') };
  } finally {
    closeSync(fd);
  }
}
