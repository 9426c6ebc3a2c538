import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Router } from 'express';

import { notFound } from '../services/errors.js';

/** Where `apps/web` builds the playground (from this file in src/ or dist/, the same depth). */
export const DEFAULT_PLAYGROUND_DIR = fileURLToPath(new URL('../../../web/dist/public', import.meta.url));

/** The built playground, held in memory: index.html and the content-hashed assets. */
export interface PlaygroundFiles {
  index: Buffer;
  assets: ReadonlyMap<string, { body: Buffer; type: string }>;
}

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Reads the playground `apps/web/build.mjs` wrote into `dir` (index.html and assets/*), or null when it is
 * not there. Read once at start: a few tens of KB, served from memory, so no request touches the file system
 * (and no path from a request is ever joined to a directory).
 */
export function loadPlayground(dir: string): PlaygroundFiles | null {
  const indexFile = join(dir, 'index.html');
  if (!existsSync(indexFile)) return null;
  const assets = new Map<string, { body: Buffer; type: string }>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const type = TYPES[extname(name)];
      if (type) assets.set(name, { body: readFileSync(join(assetDir, name)), type });
    }
  }
  return { index: readFileSync(indexFile), assets };
}

/**
 * The page's Content-Security-Policy (CSP Level 3). Scripts, styles and API calls come from this origin
 * only, and nothing may be inlined (no 'unsafe-inline' anywhere); images from this origin, `data:` (the
 * live previews) and the object store's public origin — the presigned image URLs point there, so
 * `<img src>` loads them directly; `connect-src` also allows it so "Download" can fetch the image (the
 * store must answer CORS for that: s3-lite does; see README "Playground"). Trusted Types are required for
 * every HTML sink (the page builds its DOM with createElement/textContent only), and the page may not be
 * framed, change its base URL or post forms elsewhere.
 */
export function playgroundCsp(imageOrigin: string): string {
  const store = imageOrigin ? ` ${imageOrigin}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data:${store}`,
    `connect-src 'self'${store}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

/** A year: the longest cache lifetime HTTP caches keep (RFC 9111); asset names change with their content. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

export interface PlaygroundOptions {
  /** The built files, or null when they are missing (then `/` says how to build them). */
  files: PlaygroundFiles | null;
  /** The origin of the presigned image URLs (S3_PUBLIC_ENDPOINT, else S3_ENDPOINT). */
  imageOrigin: string;
}

/**
 * `GET /`: the playground's index.html (never cached: it names the current assets and carries the CSP);
 * `GET /assets/<name>-<hash>.<ext>`: its scripts and styles, cached for a year.
 */
export function playgroundRoutes(options: PlaygroundOptions): Router {
  const router = Router();
  const csp = playgroundCsp(options.imageOrigin);
  router.get('/', (_req, res) => {
    if (!options.files) {
      throw notFound(
        'the playground is not built: run `npm run build` (or `npm install`) and restart the api',
      );
    }
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    // Cache-Control stays `no-store` (every answer's default): the page is small and names the assets.
    res.type('html').send(options.files.index);
  });
  router.get('/assets/:name', (req, res) => {
    const asset = options.files?.assets.get(req.params['name']);
    if (!asset) throw notFound('no such playground asset; reload the page');
    res.setHeader('Cache-Control', IMMUTABLE);
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Content-Type', asset.type);
    res.send(asset.body);
  });
  return router;
}
