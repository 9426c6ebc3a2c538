import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { NetworkNotFoundError } from './errors.js';
import type { LayersModelJson } from './tfjs/artifacts.js';

/**
 * Where each shipped network comes from: an npm package (MIT) holding a TensorFlow.js layers model. These
 * packages are devDependencies: they are read only to (re)convert, never at run time.
 */
export interface TfjsSource {
  /** npm package name. */
  pkg: string;
  /** model.json and shards of one model of the package. */
  json: LayersModelJson;
  shards: Map<string, Uint8Array>;
  version: string;
  license: string;
}

const require = createRequire(import.meta.url);

/** The installed package's root directory, or null when it is not installed. */
export function packageRoot(pkg: string): string | null {
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    return null;
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === pkg)
      return dir;
  }
  return null;
}

function requireRoot(pkg: string): { root: string; version: string; license: string } {
  const root = packageRoot(pkg);
  if (!root) {
    throw new NetworkNotFoundError(`npm package ${pkg} is not installed (npm install --no-save ${pkg})`);
  }
  const meta = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
  };
  return { root, version: meta.version, license: meta.license };
}

/** One scale of an UpscalerJS ESRGAN package: `models/x<scale>/model.json` and its `.bin` shards. */
export function upscalerjsSource(pkg: string, scale: number): TfjsSource {
  const { root, version, license } = requireRoot(pkg);
  const dir = join(root, 'models', `x${scale}`);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as LayersModelJson;
  const shards = new Map<string, Uint8Array>();
  for (const g of json.weightsManifest) {
    for (const p of g.paths) shards.set(p, new Uint8Array(readFileSync(join(dir, p))));
  }
  return { pkg, json, shards, version, license };
}

/**
 * nsfwjs's bundled MobileNetV2 (224 px): its model.json and base64 weight shard are wrapped in UMD bundles
 * (`dist/models/mobilenet_v2/*.min.js`) whose CommonJS export is the JSON object / base64 string.
 */
export function nsfwjsSource(model = 'mobilenet_v2'): TfjsSource {
  const pkg = 'nsfwjs';
  const { root, version, license } = requireRoot(pkg);
  const dir = join(root, 'dist', 'models', model);
  const json = require(join(dir, 'model.min.js')) as LayersModelJson;
  const shards = new Map<string, Uint8Array>();
  for (const g of json.weightsManifest) {
    for (const p of g.paths) {
      const base64 = require(join(dir, `${p}.min.js`)) as string;
      shards.set(p, new Uint8Array(Buffer.from(base64, 'base64')));
    }
  }
  return { pkg, json, shards, version, license };
}
