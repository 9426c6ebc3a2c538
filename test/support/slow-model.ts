import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FIXTURE_MODEL } from './stack.js';

/** The fixture model with many default steps, so a job runs long enough to be canceled or killed. */
export function slowModel(steps: number): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'imagegen-slow-'));
  const dir = join(root, 'model');
  cpSync(FIXTURE_MODEL, dir, { recursive: true });
  writeFileSync(join(dir, 'imagegen.json'), JSON.stringify({ default_steps: steps, default_guidance: 3 }));
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
