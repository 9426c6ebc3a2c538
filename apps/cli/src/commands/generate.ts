import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { errorFromJob, type ImageGen, type Job } from '@imagegen/client';

import { loadCliConfig } from '../config.js';
import { ProgressBar } from '../progress.js';
import { clientFor, resolveTarget, TARGET_OPTIONS } from '../target.js';
import { CommandError, UsageError } from '../usage.js';
import { followJob } from './follow.js';
import { aspectRatioOption, formatOption, intOption } from './options.js';

export async function generate(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'aspect-ratio': { type: 'string' },
      seed: { type: 'string' },
      format: { type: 'string' },
      upsample: { type: 'boolean' },
      tolerance: { type: 'string' },
      out: { type: 'string' },
      'no-wait': { type: 'boolean' },
      ...TARGET_OPTIONS,
    },
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('generate needs a prompt');
  const aspectRatio = aspectRatioOption(values['aspect-ratio']);
  const seed = intOption(values.seed, 'seed', 0, 0xffffffff);
  const tolerance = intOption(values.tolerance, 'tolerance', 0, 6);
  const format = formatOption(values.format, values.out);
  const client = clientFor(resolveTarget(values, loadCliConfig()));

  const job = await client.submit({
    prompt,
    ...(aspectRatio === undefined ? {} : { aspect_ratio: aspectRatio }),
    ...(seed === undefined ? {} : { seed }),
    ...(format === undefined ? {} : { output_format: format }),
    ...(values.upsample ? { prompt_upsampling: true } : {}),
    ...(tolerance === undefined ? {} : { safety_tolerance: tolerance }),
  });
  if (values['no-wait']) {
    process.stdout.write(`${job.id}\n`);
    process.stderr.write(
      `${job.status}${job.queue_position === null ? '' : ` at position ${job.queue_position}`}; follow it with: imagegen jobs watch ${job.id}\n`,
    );
    return;
  }
  const final = await followOrCancel(client, job);
  await saveResult(client, final, values.out);
}

/** Follows the job; Ctrl-C cancels it (exit status 130). */
async function followOrCancel(client: ImageGen, job: Job): Promise<Job> {
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    return await followJob(client, job.id, {
      bar: new ProgressBar(process.stderr),
      signal: interrupt.signal,
    });
  } catch (e) {
    if (!interrupt.signal.aborted) throw e;
    const canceled = await client.cancel(job.id);
    throw new CommandError(`interrupted: ${job.id} is ${canceled.status}`, 130);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** Writes a succeeded job's image and prints where, the seed and the revised prompt; throws otherwise. */
export async function saveResult(client: ImageGen, job: Job, out: string | undefined): Promise<void> {
  const failed = errorFromJob(job);
  if (failed) throw failed;
  const output = job.output!;
  const file = resolve(out ?? `imagegen-${job.seed}.${output.format === 'jpeg' ? 'jpg' : 'png'}`);
  const saved = await client.download(job, file);
  process.stdout.write(
    [
      `wrote ${saved.path} (${output.width}×${output.height} ${output.format}, ${saved.bytes} bytes)`,
      `seed ${job.seed}`,
      ...(job.revised_prompt === null ? [] : [`revised prompt: ${job.revised_prompt}`]),
      `job ${job.id}`,
    ].join('\n') + '\n',
  );
}
