import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths never written to logs: credentials, prompts and presigned URLs (a URL is a bearer credential
 * for its image until it expires).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-key"]',
  'prompt',
  '*.prompt',
  'input.prompt',
  'revised_prompt',
  '*.revised_prompt',
  'url',
  '*.url',
  'image_url',
  '*.image_url',
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  'webhook_secret',
  '*.webhook_secret',
  'apiKey',
];

/** A JSON logger for one service; `destination` defaults to stdout. */
export function createLogger(service: string, level = 'info', destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name: service,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
