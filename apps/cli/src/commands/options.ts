import { extname } from 'node:path';

import { ASPECT_RATIOS, type AspectRatio, type OutputFormat } from '@imagegen/client';

import { UsageError } from '../usage.js';

export function intOption(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer ${min}..${max}`);
  }
  return n;
}

export function aspectRatioOption(value: string | undefined): AspectRatio | undefined {
  if (value === undefined) return undefined;
  if (!(ASPECT_RATIOS as readonly string[]).includes(value)) {
    throw new UsageError(`--aspect-ratio must be one of ${ASPECT_RATIOS.join(', ')}`);
  }
  return value as AspectRatio;
}

/** --format, else the extension of --out, else undefined (the service's default, jpeg). */
export function formatOption(format: string | undefined, out: string | undefined): OutputFormat | undefined {
  const fromExt = out ? extname(out).slice(1).toLowerCase().replace(/^jpg$/, 'jpeg') : '';
  const value = format ?? (fromExt === 'png' || fromExt === 'jpeg' ? fromExt : undefined);
  if (value !== undefined && value !== 'jpeg' && value !== 'png')
    throw new UsageError('--format must be jpeg or png');
  return value;
}
