import { parseArgs } from 'node:util';

import { errorFromJob, type Job, type JobStatus } from '@imagegen/client';
import { JOB_STATUSES } from '@imagegen/contracts';

import { loadCliConfig } from '../config.js';
import { ProgressBar } from '../progress.js';
import { clientFor, resolveTarget, TARGET_OPTIONS } from '../target.js';
import { UsageError } from '../usage.js';
import { followJob } from './follow.js';
import { saveResult } from './generate.js';
import { intOption } from './options.js';

const STATUSES: readonly JobStatus[] = JOB_STATUSES;
const out = (line: string) => process.stdout.write(`${line}\n`);

function row(job: Job): string {
  const prompt = job.input.prompt.length > 60 ? `${job.input.prompt.slice(0, 59)}…` : job.input.prompt;
  return [job.id, job.status, job.created_at, job.input.aspect_ratio, job.input.seed, prompt].join('\t');
}

export async function jobs(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      ...TARGET_OPTIONS,
    },
  });
  const id = positionals[0];
  const needsId = () => {
    if (!id) throw new UsageError(`jobs ${sub ?? ''} needs a job id`);
    return id;
  };
  switch (sub) {
    case 'list': {
      const status = values.status?.split(',').map((s) => s.trim());
      const unknown = status?.find((s) => !(STATUSES as readonly string[]).includes(s));
      if (unknown !== undefined) throw new UsageError(`--status must be among ${STATUSES.join(', ')}`);
      const limit = intOption(values.limit, 'limit', 1, 100);
      const client = clientFor(resolveTarget(values, loadCliConfig()));
      const params = {
        ...(limit === undefined ? {} : { limit }),
        ...(status ? { status: status as JobStatus[] } : {}),
      };
      const found: Job[] = [];
      if (values.all) for await (const job of client.list(params)) found.push(job);
      else found.push(...(await client.listPage(params)).data);
      if (values.json) {
        out(JSON.stringify(found, null, 2));
        return;
      }
      out(['id', 'status', 'created', 'aspect', 'seed', 'prompt'].join('\t'));
      for (const job of found) out(row(job));
      return;
    }
    case 'get': {
      const job = await clientFor(resolveTarget(values, loadCliConfig())).get(needsId());
      out(JSON.stringify(job, null, 2));
      return;
    }
    case 'watch': {
      const jobId = needsId();
      const client = clientFor(resolveTarget(values, loadCliConfig()));
      const bar = new ProgressBar(process.stderr);
      const job = await followJob(client, jobId, {
        bar,
        log: bar.enabled ? undefined : (line) => process.stderr.write(`${jobId} ${line}\n`),
      });
      if (values.out !== undefined) {
        await saveResult(client, job, values.out);
        return;
      }
      const failed = errorFromJob(job);
      if (failed) throw failed;
      out(`${job.id} ${job.status}${job.image_url === null ? '' : ` ${job.image_url}`}`);
      return;
    }
    case 'cancel': {
      const job = await clientFor(resolveTarget(values, loadCliConfig())).cancel(needsId());
      out(
        job.status === 'canceled'
          ? `${job.id} canceled`
          : `${job.id} is still ${job.status}: it stops at its next step (imagegen jobs watch ${job.id})`,
      );
      return;
    }
    case undefined:
      throw new UsageError('jobs needs a command: list, get, watch or cancel');
    default:
      throw new UsageError(`unknown jobs command "${sub}"`);
  }
}
