import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { ExecutionProvider } from '@imagegen/engine';
import {
  estimateModelMemory,
  modelIdentity,
  modelWeightBytes,
  readPullRecord,
} from '@imagegen/engine/model-files';

import { CommandError } from '../usage.js';
import { matches } from './download.js';
import { formatBytes } from './units.js';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Files of the pull record that are missing or no longer match their hash. */
async function damagedFiles(dir: string): Promise<{ checked: number; bytes: number; bad: string[] } | null> {
  const record = readPullRecord(dir);
  if (!record) return null;
  const bad: string[] = [];
  for (const file of record.files) {
    const path = join(dir, file.path);
    if (!existsSync(path)) bad.push(`${file.path} (missing)`);
    else if (!(await matches(path, file)))
      bad.push(`${file.path} (${file.algorithm} differs from the pull record)`);
  }
  return { checked: record.files.length, bytes: record.files.reduce((s, f) => s + f.size, 0), bad };
}

/**
 * The check an operator runs before pointing workers at a model: its files against the pull record,
 * the layout, every session opened (each network's inputs and outputs checked against what the engine
 * feeds and reads), one denoising step at the smallest size; returns the report's lines. Rejects with a
 * CommandError (damaged files) or the engine's EngineError (layout, tensors, NaN output).
 */
export async function verifyModel(
  dir: string,
  runtime: { provider: ExecutionProvider; intraOpThreads?: number },
): Promise<string[]> {
  const lines: string[] = [];
  const id = modelIdentity(dir);
  const record = readPullRecord(dir);
  lines.push(
    record
      ? `model        ${id.name}@${record.revision.slice(0, 12)} (${record.requested}, pulled ${record.pulledAt} from ${record.endpoint})`
      : `model        ${id.name} (${dir}; not pulled, no hashes to check)`,
  );
  const files = await damagedFiles(dir);
  if (files && files.bad.length > 0) {
    throw new CommandError(`${dir}: damaged files: ${files.bad.join(', ')}; pull the model again`);
  }
  if (files)
    lines.push(`files        ${files.checked} files, ${formatBytes(files.bytes)}, every hash matches`);
  // The runtime is loaded only here: pull and list never need onnxruntime.
  const { Engine, readModelManifest } = await import('@imagegen/engine');
  const manifest = readModelManifest(dir);
  const weights = modelWeightBytes(dir);

  const loadStart = performance.now();
  const engine = await Engine.load({ modelDir: dir, runtime });
  const loadMs = performance.now() - loadStart;
  try {
    const probe = await engine.probe();
    const { native, info } = engine;
    lines.push(
      `pipeline     ${manifest.pipelineClass}${manifest.tokenizer2 ? ' (two text encoders, SDXL conditioning)' : ''}`,
      `scheduler    ${info.scheduler} (${manifest.scheduler.timestepSpacing} spacing)`,
      `native size  ${native.width}×${native.height} (generation sizes are multiples of ${native.multiple})`,
      `defaults     ${info.defaults.steps} steps, guidance ${info.defaults.guidance}`,
      `weights      ${formatBytes(weights)}; a worker counts on about ${mib(estimateModelMemory(weights))} for it`,
      `sessions     every network loaded and its inputs/outputs match the engine (${info.provider}) in ${loadMs.toFixed(0)} ms`,
      `one step     ${probe.width}×${probe.height} in ${probe.ms.toFixed(0)} ms`,
      // maxRSS is in kilobytes (getrusage): the whole process's peak, Node itself included.
      `peak memory  ${mib(process.resourceUsage().maxRSS * 1024)} resident (this process, Node included)`,
    );
  } finally {
    await engine.close();
  }
  return lines;
}
