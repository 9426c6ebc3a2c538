import type { z } from 'zod';

import { AppError } from '../errors.js';

/** An environment as a process sees it (`process.env`, or a plain object in tests). */
export type Env = Readonly<Record<string, string | undefined>>;

/** One bad variable and what is wrong with it. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/**
 * The environment is invalid. `message` is `invalid configuration:` followed by one line per problem
 * (`  NAME: what is wrong`), every bad variable of every fragment at once; `runMain` prints it without a
 * stack trace and exits 2.
 */
export class ConfigError extends AppError {
  override name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      'invalid_configuration',
      ['invalid configuration:', ...problems.map((p) => `  ${p.variable}: ${p.message}`)].join('\n'),
      { details: problems.map((p) => ({ param: p.variable, message: p.message })) },
    );
    this.problems = problems;
  }
}

/**
 * A part of a process's environment: a zod schema over the whole environment object that picks its
 * variables (unknown ones are stripped) and outputs a flat object. Processes compose fragments with
 * `parseEnv`.
 */
export type EnvFragment = z.ZodType<object>;

type Merged<F extends readonly EnvFragment[]> = F extends readonly [
  infer H extends EnvFragment,
  ...infer T extends readonly EnvFragment[],
]
  ? z.output<H> & Merged<T>
  : unknown;

/** The config `parseEnv` returns for a list of fragments: their outputs merged, read-only. */
export type EnvConfig<F extends readonly EnvFragment[]> = Readonly<{ [K in keyof Merged<F>]: Merged<F>[K] }>;

/**
 * Parses an environment with every fragment and merges their outputs into one frozen config. Every
 * fragment is parsed even when another fails, so the one `ConfigError` thrown names every bad variable
 * at once.
 */
export function parseEnv<const F extends readonly EnvFragment[]>(env: Env, fragments: F): EnvConfig<F> {
  const problems: ConfigProblem[] = [];
  const config: Record<string, unknown> = {};
  for (const fragment of fragments) {
    const result = fragment.safeParse(env);
    if (result.success) Object.assign(config, result.data);
    else
      for (const issue of result.error.issues)
        problems.push({ variable: issue.path.join('.') || '(environment)', message: issue.message });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config) as EnvConfig<F>;
}
