// Builds the playground into dist/public: src/main.ts (with the CSS it imports) bundled by esbuild into
// content-hashed files under assets/, and index.html naming them with Subresource Integrity hashes. The API
// serves index.html at / (never cached) and assets/* for a year (immutable: a change gives a new name).
// Runs at `npm install` (the root `prepare`), `npm run build`, `npm start` and before `npm test`; ~0.2 s.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist', 'public');
const assets = join(out, 'assets');

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: { app: join(here, 'src', 'main.ts') },
  outdir: assets,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Browsers of the last two or three years; nothing needs a polyfill.
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => join(process.cwd(), p));
const pick = (ext) => {
  const file = outputs.find((p) => p.endsWith(ext));
  if (!file) throw new Error(`esbuild wrote no ${ext} file`);
  const sri = `sha384-${createHash('sha384').update(readFileSync(file)).digest('base64')}`;
  return { href: `assets/${basename(file)}`, sri };
};
const js = pick('.js');
const css = pick('.css');
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('src="main.ts"', `src="${js.href}" integrity="${js.sri}"`)
  .replace('href="style.css"', `href="${css.href}" integrity="${css.sri}"`);
if (!html.includes(js.href) || !html.includes(css.href)) {
  throw new Error('src/index.html must load src="main.ts" and href="style.css"');
}
writeFileSync(join(out, 'index.html'), html);
process.stdout.write(`playground built: ${js.href}, ${css.href}\n`);
