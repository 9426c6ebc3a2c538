import { randomFillSync } from 'node:crypto';

/**
 * Bytes from the system's CSPRNG, drawn 4 KiB at a time: one call into it every hundred submits or so
 * instead of three per submit (each `randomBytes` call costs a few µs of native work and a buffer). Each
 * byte is handed out once, and the functions below consume theirs before returning.
 */
const pool = Buffer.allocUnsafe(4096);
let used = pool.length;

function take(n: number): number {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const at = used;
  used += n;
  return at;
}

/** `bytes` random bytes as lowercase hex (`bytes` ≤ 4096). */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** A random unsigned 32-bit integer. */
export function randomUint32(): number {
  return pool.readUInt32BE(take(4));
}

/** `length` characters of `alphabet`, each from one random byte (byte mod the alphabet's size). */
export function randomString(alphabet: string, length: number): string {
  const at = take(length);
  let s = '';
  for (let i = at; i < at + length; i++) s += alphabet.charAt(pool[i]! % alphabet.length);
  return s;
}
