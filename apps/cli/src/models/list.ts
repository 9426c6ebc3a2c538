import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

import { listModelFiles, PULL_RECORD_FILE, readPullRecord } from '@imagegen/engine/model-files';

export interface PulledModel {
  /** What MODEL_DIR takes: the path under the models directory (`owner/name` for a default pull). */
  name: string;
  dir: string;
  repo: string | null;
  revision: string | null;
  requested: string | null;
  bytes: number;
  pulledAt: string | null;
  /** No pull record yet, but files (or `.part` downloads): an interrupted pull. */
  incomplete: boolean;
}

/** Directories one or two levels under the models directory (`name` or `owner/name`). */
function candidates(modelsDir: string): string[] {
  const dirs = (d: string) =>
    readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => join(d, e.name));
  const out: string[] = [];
  for (const first of dirs(modelsDir)) {
    if (existsSync(join(first, PULL_RECORD_FILE)) || existsSync(join(first, 'model_index.json')))
      out.push(first);
    else out.push(...dirs(first));
  }
  return out;
}

/** The models under `modelsDir`: pulled ones with their record, interrupted pulls marked incomplete. */
export function listPulledModels(modelsDir: string): PulledModel[] {
  if (!existsSync(modelsDir)) return [];
  return candidates(modelsDir)
    .map((dir): PulledModel => {
      const record = readPullRecord(dir);
      const name = relative(modelsDir, dir).split(sep).join('/');
      if (record) {
        return {
          name,
          dir,
          repo: record.repo,
          revision: record.revision,
          requested: record.requested,
          bytes: record.files.reduce((s, f) => s + f.size, 0),
          pulledAt: record.pulledAt,
          incomplete: false,
        };
      }
      const files = listModelFiles(dir);
      return {
        name,
        dir,
        repo: null,
        revision: null,
        requested: null,
        bytes: 0,
        pulledAt: null,
        incomplete: files.length > 0,
      };
    })
    .filter((m) => m.repo !== null || m.incomplete)
    .sort((a, b) => a.name.localeCompare(b.name));
}
