import { ImageGenError } from '@imagegen/client';
import { ConfigError } from '@imagegen/contracts';

import { ANALYZE_USAGE, GENERATE_USAGE, JOBS_USAGE, KEYS_USAGE, MODELS_USAGE, RENDER_USAGE } from './help.js';
import { SAFETY_USAGE, UPSCALE_USAGE } from './networks-help.js';
import { CommandError, SetupError, UsageError } from './usage.js';

type Run = (argv: string[]) => Promise<void>;

/** A command of the local engine: an EngineError (a bad model directory, …) exits 1 with its code. */
const engineCommand =
  (load: () => Promise<Run>): Run =>
  async (argv) => {
    const [run, { EngineError }] = await Promise.all([load(), import('@imagegen/engine')]);
    try {
      await run(argv);
    } catch (e) {
      if (e instanceof EngineError) throw new CommandError(`${e.code}: ${e.message}`);
      throw e;
    }
  };

// Each command is loaded when it runs: the engine's commands load onnxruntime and `keys` the Redis client,
// which the service commands do not need.
const COMMANDS: Record<string, { run: Run; usage: string }> = {
  generate: { run: async (a) => (await import('./commands/generate.js')).generate(a), usage: GENERATE_USAGE },
  jobs: { run: async (a) => (await import('./commands/jobs.js')).jobs(a), usage: JOBS_USAGE },
  analyze: { run: async (a) => (await import('./commands/analyze.js')).analyze(a), usage: ANALYZE_USAGE },
  render: {
    run: engineCommand(async () => (await import('./commands/render.js')).render),
    usage: RENDER_USAGE,
  },
  keys: { run: async (a) => (await import('./commands/keys.js')).keys(a), usage: KEYS_USAGE },
  safety: { run: engineCommand(async () => (await import('./safety.js')).safety), usage: SAFETY_USAGE },
  upscale: { run: engineCommand(async () => (await import('./upscale.js')).upscale), usage: UPSCALE_USAGE },
  // Not an engineCommand as a whole: pull and list must not load onnxruntime; verify converts EngineErrors.
  models: { run: async (a) => (await import('./commands/models.js')).models(a), usage: MODELS_USAGE },
};

const USAGE = `usage: imagegen <command> [options]

commands:
  generate PROMPT   generate an image with the service (\`npm start\`, or --base-url) and save it
  jobs …            list, get, watch and cancel this key's jobs
  analyze PROMPT    check a prompt without generating anything
  render PROMPT     generate one image locally with the ONNX engine, no service
  keys …            manage API keys of the service
  safety IMAGE…     image safety classifier scores and the verdict at each tolerance
  upscale IN        an image through an upscaler network at ×N (no final resize)
  models …          pull a model from the Hugging Face Hub, list pulled models, verify one

\`imagegen <command> --help\` shows one command's options.`;

const isParseArgsError = (e: unknown): e is TypeError =>
  e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');

/** How an API or job error reads: `code: message`, with the field or policy category when there is one. */
function describe(e: ImageGenError): string {
  const about = e.param ?? e.category;
  const rid = e.requestId && e.status !== undefined && e.status >= 500 ? ` [request ${e.requestId}]` : '';
  return `${e.code}: ${e.message}${about && !e.message.includes(about) ? ` (${about})` : ''}${rid}`;
}

/** Runs the command line; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const say = (line: string) => process.stderr.write(`imagegen: ${line}\n`);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    say(`unknown command "${command}" (see \`imagegen --help\`)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${entry.usage}\n`);
    return 0;
  }
  try {
    await entry.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || isParseArgsError(e)) {
      say(`${e.message} (see \`imagegen ${command} --help\`)`);
      return 2;
    }
    if (e instanceof SetupError || e instanceof ConfigError) {
      say(e.message);
      return 2;
    }
    if (e instanceof CommandError) {
      say(e.message);
      return e.exitCode;
    }
    if (e instanceof ImageGenError) {
      say(describe(e));
      return 1;
    }
    throw e;
  }
}
