import { ConfigError } from '@imagegen/contracts';
import { EngineError } from '@imagegen/engine';

import { keys, KEYS_USAGE } from './keys.js';
import { render, RENDER_USAGE } from './render.js';
import { SAFETY_USAGE, UPSCALE_USAGE } from './networks-help.js';
import { safety } from './safety.js';
import { upscale } from './upscale.js';
import { UsageError } from './usage.js';

const USAGE = `usage: imagegen <command> [options]

commands:
  render PROMPT   generate one image locally with the ONNX engine
  keys …          manage API keys of the service
  safety IMAGE…   image safety classifier scores and the verdict at each tolerance
  upscale IN      an image through an upscaler network at ×N

${RENDER_USAGE}

${KEYS_USAGE}

${SAFETY_USAGE}

${UPSCALE_USAGE}`;

/** Runs the command line; resolves to the process exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'render':
        await render(rest);
        return 0;
      case 'keys':
        await keys(rest);
        return 0;
      case 'safety':
        await safety(rest);
        return 0;
      case 'upscale':
        await upscale(rest);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`imagegen: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`imagegen: ${e.message}\n`);
      return 2;
    }
    if (e instanceof EngineError) {
      process.stderr.write(`imagegen: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
