import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { ListFileEntry } from '@huggingface/hub';

import {
  isEngineFile,
  missingLayoutFiles,
  readPullRecord,
  writePullRecord,
  type PulledFile,
  type PullRecord,
} from '@imagegen/engine/model-files';

import { CommandError } from '../usage.js';
import { downloadResumable, HashMismatchError, matches } from './download.js';
import { listRepoFiles, openFile, resolveCommit, type HubAccess } from './hub.js';
import { formatBytes } from './units.js';

export interface PullProgress {
  /** A file starts: its path, size and how much of it is already here. */
  file: (path: string, size: number, have: number) => void;
  bytes: (n: number) => void;
  /** A file is in place, checked; `how` says whether it was downloaded, resumed or already there. */
  done: (path: string, size: number, how: 'downloaded' | 'resumed' | 'present') => void;
}

/**
 * The hash the hub lists for a file: its LFS sha256 when it is an LFS file (Xet-stored files keep their
 * LFS pointer, so they have one too), else its git blob id. A file with only a Xet hash is refused rather
 * than taken unchecked: its `oid` would be the blob id of a pointer, not of the bytes.
 */
export function expectedOf(entry: ListFileEntry): PulledFile {
  if (entry.lfs) {
    return { path: entry.path, size: entry.lfs.size, algorithm: 'sha256', hash: entry.lfs.oid };
  }
  if (entry.xetHash) {
    throw new CommandError(
      `${entry.path}: the hub lists only a Xet hash for it, which pull cannot check against the bytes`,
    );
  }
  if (!entry.oid) throw new CommandError(`${entry.path}: the hub lists no hash for it`);
  return { path: entry.path, size: entry.size, algorithm: 'git-sha1', hash: entry.oid };
}

/** What a repository that is not an ONNX export has instead, to say so in the error. */
function layoutHint(paths: string[]): string {
  if (paths.some((p) => /\.(safetensors|bin|ckpt)$/.test(p) && !p.includes('/onnx/'))) {
    return '; it holds PyTorch weights: export it with `optimum-cli export onnx --model REPO DIR` (see README "Use a real model")';
  }
  const nested = paths.find((p) => p.endsWith('/model_index.json'));
  if (nested) return `; it has ${nested}: the ONNX export may live in a subfolder, which pull does not read`;
  return '';
}

/**
 * Downloads the files the engine uses from `repo` at `revision` into `dir`: the revision is resolved to
 * one commit first, every file is checked against the hub's hash, a file already present and intact is
 * kept, an interrupted one resumes, and the pull record is written last (so a directory with a record
 * holds a complete model). Files of an earlier pull into the same directory that this revision lacks are
 * removed.
 */
export async function pullModel(options: {
  access: HubAccess;
  repo: string;
  revision: string;
  dir: string;
  progress: PullProgress;
}): Promise<PullRecord> {
  const { access, repo, revision, dir, progress } = options;
  const commit = await resolveCommit(access, repo, revision);
  const listing = await listRepoFiles(access, repo, commit);
  const paths = listing.map((f) => f.path);
  const missing = missingLayoutFiles(paths);
  if (missing.length > 0) {
    throw new CommandError(
      `${repo}@${revision} is not a model in the diffusers/Optimum ONNX layout: it lacks ${missing.join(', ')}${layoutHint(paths)}`,
    );
  }
  const wanted = listing.filter((f) => isEngineFile(f.path)).map(expectedOf);
  mkdirSync(dir, { recursive: true });
  const previous = readPullRecord(dir);

  for (const file of wanted) {
    const target = join(dir, file.path);
    if (await matches(target, file)) {
      progress.done(file.path, file.size, 'present');
      continue;
    }
    const part = `${target}.part`;
    progress.file(file.path, file.size, existsSync(part) ? Math.min(statSync(part).size, file.size) : 0);
    let result: { resumedFrom: number };
    try {
      result = await downloadResumable({
        target,
        expected: file,
        open: async (offset) => (await openFile(access, repo, commit, file.path, offset)).stream,
        onBytes: (n) => progress.bytes(n),
      });
    } catch (e) {
      if (e instanceof HashMismatchError) throw new CommandError(`${file.path}: ${e.message}`);
      if (e instanceof CommandError) throw e;
      // A stream cut by the network rejects with a bare string from the library.
      const reason = e instanceof Error ? e.message : String(e);
      throw new CommandError(
        `${file.path}: the download was interrupted (${reason}); run the same pull again to resume it`,
      );
    }
    progress.done(file.path, file.size, result.resumedFrom > 0 ? 'resumed' : 'downloaded');
  }

  const keep = new Set(wanted.map((f) => f.path));
  for (const old of previous?.files ?? []) {
    if (!keep.has(old.path)) rmSync(join(dir, old.path), { force: true });
  }
  const record: PullRecord = {
    repo,
    revision: commit,
    requested: revision,
    endpoint: access.hubUrl,
    pulledAt: new Date().toISOString(),
    files: wanted,
  };
  writePullRecord(dir, record);
  return record;
}

/** One line about a finished pull. */
export function pullSummary(record: PullRecord, dir: string): string {
  const bytes = record.files.reduce((s, f) => s + f.size, 0);
  return `pulled ${record.repo}@${record.revision.slice(0, 12)} (${record.files.length} files, ${formatBytes(bytes)}) into ${dir}`;
}
