/**
 * `npm run convert -w @imagegen/networks [-- NAME…]`: converts the named networks (default: all the
 * committed ones, nsfw-mobilenet-v2, esrgan-slim, esrgan-medium, esrgan-thick) from their installed npm
 * packages (devDependencies) into models/.
 */
import { statSync } from 'node:fs';

import { buildNetwork, SAFETY_NETWORK, UPSCALER_NETWORKS } from '../catalog.js';

const names = process.argv.slice(2);
for (const name of names.length ? names : [SAFETY_NETWORK, ...UPSCALER_NETWORKS]) {
  const started = Date.now();
  const files = buildNetwork(name);
  const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
  process.stdout.write(
    `${name}: ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB, ${Date.now() - started} ms\n`,
  );
}
