import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  writeSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';

import type { PulledFile } from '@imagegen/engine/model-files';

/** The hash a hub gives for a file: sha256 of an LFS/Xet file, the git blob id (sha1) of a small one. */
export type Expected = Pick<PulledFile, 'algorithm' | 'hash' | 'size'>;

/** A file whose bytes do not match the hub's hash: refused, and its download removed. */
export class HashMismatchError extends Error {
  override readonly name = 'HashMismatchError';
}

/** Hashes a file as the hub does: sha256 of the bytes, or git's `blob <size>\0` + bytes sha1. */
export async function hashFile(path: string, algorithm: Expected['algorithm']): Promise<string> {
  const hash = createHash(algorithm === 'sha256' ? 'sha256' : 'sha1');
  if (algorithm === 'git-sha1') hash.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Whether `path` holds exactly the expected file (size first, then the hash). */
export async function matches(path: string, expected: Expected): Promise<boolean> {
  if (!existsSync(path) || statSync(path).size !== expected.size) return false;
  return (await hashFile(path, expected.algorithm)) === expected.hash;
}

/**
 * Downloads into `<target>.part`, appending to what an interrupted download left there (the source is
 * asked for the bytes from that offset on), then checks the whole file against the hub's hash and
 * renames it into place. A mismatch removes the part file and throws HashMismatchError; any other
 * failure leaves the part file for the next attempt to resume.
 */
export async function downloadResumable(options: {
  target: string;
  expected: Expected;
  open: (offset: number) => Promise<ReadableStream<Uint8Array>>;
  onBytes: (bytes: number) => void;
}): Promise<{ resumedFrom: number }> {
  const { target, expected } = options;
  const part = `${target}.part`;
  mkdirSync(dirname(target), { recursive: true });
  let offset = existsSync(part) ? statSync(part).size : 0;
  // A part file as long as the whole (or longer) is checked as it is; a longer one is wrong and starts over.
  if (offset > expected.size) {
    rmSync(part);
    offset = 0;
  }
  const resumedFrom = offset;
  if (offset < expected.size) {
    const stream = await options.open(offset);
    const fd = openSync(part, offset > 0 ? 'a' : 'w');
    try {
      // Written as it arrives, so an interruption keeps every byte received.
      for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
        writeSync(fd, chunk);
        offset += chunk.length;
        options.onBytes(chunk.length);
      }
    } finally {
      closeSync(fd);
    }
    if (offset !== expected.size) {
      throw new Error(`the download ended at ${offset} of ${expected.size} bytes`);
    }
  }
  const got = await hashFile(part, expected.algorithm);
  if (got !== expected.hash) {
    rmSync(part, { force: true });
    throw new HashMismatchError(
      `its ${expected.algorithm} is ${got}, but the hub lists ${expected.hash}: the download is corrupt ` +
        `and was removed; pull again`,
    );
  }
  renameSync(part, target);
  return { resumedFrom };
}
