/**
 * `npm run convert -w @imagegen/networks [-- NAME…]`: converts the named networks (default: the committed
 * ones, nsfw-mobilenet-v2, esrgan-slim, esrgan-medium) from their installed npm packages into models/.
 * esrgan-thick (a 110 MB package) is converted only when named, after `npm install --no-save @upscalerjs/esrgan-thick`.
 */
import { statSync } from 'node:fs';

import { buildNetwork, SAFETY_NETWORK } from '../catalog.js';

const names = process.argv.slice(2);
for (const name of names.length ? names : [SAFETY_NETWORK, 'esrgan-slim', 'esrgan-medium']) {
  const started = Date.now();
  const files = buildNetwork(name);
  const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
  process.stdout.write(
    `${name}: ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB, ${Date.now() - started} ms\n`,
  );
}
