import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';

import { z } from 'zod';

import { isWeightFile } from './layout.js';

/**
 * What `imagegen models pull` leaves next to a model it downloaded: where it came from (repository, the
 * commit the revision named at the time) and every file with its size and the hub's hash, so the model
 * can be named, listed and checked again later (`imagegen models verify`).
 */
export const PULL_RECORD_FILE = '.imagegen-pull.json';

export const PulledFile = z.object({
  path: z.string(),
  size: z.int().nonnegative(),
  /** `sha256` for LFS/Xet files (the hub's `lfs.oid`), `git-sha1` (the blob id) for small ones. */
  algorithm: z.enum(['sha256', 'git-sha1']),
  hash: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/),
});
export type PulledFile = z.infer<typeof PulledFile>;

export const PullRecord = z.object({
  /** `owner/name` on the hub. */
  repo: z.string(),
  /** The 40-hex commit the files were taken from. */
  revision: z.string(),
  /** The revision asked for (`main`, a tag, a branch or a commit). */
  requested: z.string(),
  /** The hub's base URL. */
  endpoint: z.string(),
  /** ISO 8601. */
  pulledAt: z.string(),
  files: z.array(PulledFile),
});
export type PullRecord = z.infer<typeof PullRecord>;

/** The pull record of a model directory, or null when it has none (or an unreadable one). */
export function readPullRecord(dir: string): PullRecord | null {
  const file = join(dir, PULL_RECORD_FILE);
  if (!existsSync(file)) return null;
  try {
    const parsed = PullRecord.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Writes the record atomically (a crash leaves the old one or the new one, never half of one). */
export function writePullRecord(dir: string, record: PullRecord): void {
  const file = join(dir, PULL_RECORD_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** Where a pulled repository lands by default: `<models dir>/<owner>/<name>`. */
export function pulledModelDir(modelsDir: string, repo: string): string {
  return join(modelsDir, ...repo.split('/'));
}

/**
 * A model directory from what an operator wrote (`MODEL_DIR`, `--model`): an existing path as it is,
 * else the name of a model pulled into `modelsDir` (`onnxruntime/sd-turbo`); null when it is neither.
 */
export function resolveModelDir(value: string, modelsDir: string): string | null {
  if (existsSync(value)) return resolve(value);
  if (isAbsolute(value)) return null;
  const pulled = resolve(modelsDir, value);
  // A name never leaves the models directory (`../x` is a path, and it does not exist).
  if (relative(resolve(modelsDir), pulled).startsWith('..')) return null;
  return existsSync(pulled) ? pulled : null;
}

/**
 * How the service names a model: a pulled one by its repository and commit, any other directory by its
 * folder name (the bundled model is `model`) with no revision.
 */
export function modelIdentity(dir: string): { name: string; revision: string | null } {
  const record = readPullRecord(dir);
  return record
    ? { name: record.repo, revision: record.revision }
    : { name: basename(resolve(dir)), revision: null };
}

/** Every file under `dir`, relative and `/`-separated (symbolic links followed). */
export function listModelFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      const full = join(dir, rel, entry.name);
      if (entry.isDirectory() || (entry.isSymbolicLink() && statSync(full).isDirectory())) walk(path);
      else out.push(path.split(sep).join('/'));
    }
  };
  walk('');
  return out.sort();
}

/** Bytes of network weights in a model directory (ONNX graphs and their external data). */
export function modelWeightBytes(dir: string): number {
  return listModelFiles(dir)
    .filter(isWeightFile)
    .reduce((sum, path) => sum + statSync(join(dir, path)).size, 0);
}
