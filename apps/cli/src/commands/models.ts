import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { pulledModelDir, resolveModelDir } from '@imagegen/engine/model-files';

import { loadCliConfig } from '../config.js';
import { hubAccess, parseRepoSpec } from '../models/hub.js';
import { listPulledModels } from '../models/list.js';
import { pullProgress } from '../models/pull-progress.js';
import { pullModel, pullSummary } from '../models/pull.js';
import { formatBytes } from '../models/units.js';
import { verifyModel } from '../models/verify.js';
import { CommandError, UsageError } from '../usage.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

async function pull(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('pull takes one REPO[@REVISION]');
  const { repo, revision } = parseRepoSpec(positionals[0]!);
  const config = loadCliConfig();
  const access = hubAccess(config.HF_ENDPOINT, config.HF_TOKEN);
  const dir = values.dir ? resolve(values.dir) : pulledModelDir(config.IMAGEGEN_MODELS_DIR, repo);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`pulling ${repo}@${revision} from ${access.hubUrl} into ${dir}`);
  const record = await pullModel({
    access,
    repo,
    revision,
    dir,
    progress: pullProgress(process.stderr, log),
  });
  out(pullSummary(record, dir));
  out(
    values.dir
      ? `use it with MODEL_DIR=${dir}`
      : `use it with MODEL_DIR=${repo} (npm start, the worker) or --model ${dir}; check it with: imagegen models verify ${repo}`,
  );
}

function list(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  const { IMAGEGEN_MODELS_DIR: modelsDir } = loadCliConfig();
  const models = listPulledModels(modelsDir);
  if (values.json) {
    out(JSON.stringify(models, null, 2));
    return;
  }
  if (models.length === 0) {
    out(`no models in ${modelsDir} (imagegen models pull REPO)`);
    return;
  }
  const rows = models.map((m) =>
    m.repo
      ? [
          m.name,
          `${m.revision!.slice(0, 12)} (${m.requested})`,
          formatBytes(m.bytes),
          m.pulledAt!.slice(0, 19),
        ]
      : [m.name, '-', '-', 'no pull record: interrupted (pull again to resume) or copied by hand'],
  );
  const header = ['NAME', 'REVISION', 'SIZE', 'PULLED'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) {
    out(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  }
  out(`(${modelsDir})`);
}

async function verify(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { provider: { type: 'string', default: 'cpu' }, threads: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('verify takes one model directory or pulled name');
  const provider = values.provider;
  if (provider !== 'cpu' && provider !== 'cuda') throw new UsageError('--provider must be cpu or cuda');
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw new UsageError('--threads must be an integer 1..1024');
  }
  const { IMAGEGEN_MODELS_DIR: modelsDir } = loadCliConfig();
  const dir = resolveModelDir(positionals[0]!, modelsDir);
  if (!dir) {
    throw new UsageError(`${positionals[0]!} is neither a directory nor a model pulled into ${modelsDir}`);
  }
  const lines = await verifyModel(dir, { provider, ...(threads ? { intraOpThreads: threads } : {}) });
  for (const line of lines) out(line);
  out('ok');
}

/** `imagegen models pull|list|verify`. */
export async function models(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'pull':
      return pull(rest);
    case 'list':
      return list(rest);
    case 'verify': {
      const { EngineError } = await import('@imagegen/engine');
      try {
        return await verify(rest);
      } catch (e) {
        // A bad layout, a tensor the engine cannot feed, NaN output: exit 1 with the engine's code.
        if (e instanceof EngineError) throw new CommandError(`${e.code}: ${e.message}`);
        throw e;
      }
    }
    case undefined:
      throw new UsageError('models needs pull, list or verify');
    default:
      throw new UsageError(`unknown models command "${sub}"`);
  }
}
