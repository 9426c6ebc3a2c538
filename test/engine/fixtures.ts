import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The engine's committed test fixtures (see packages/engine/scripts/make_fixture_models.py). */
export const FIXTURES = fileURLToPath(new URL('../../packages/engine/fixtures/', import.meta.url));
export const TINY_RANDOM = join(FIXTURES, 'tiny-random');

/** A private, writable copy of the tiny-random model; remove it with the returned cleanup. */
export function copyModel(): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'imagegen-model-'));
  const dir = join(root, 'model');
  cpSync(TINY_RANDOM, dir, { recursive: true });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Replaces one ONNX file of a copied model with a fixture variant. */
export function useVariant(dir: string, variant: string, target: string): void {
  cpSync(join(FIXTURES, 'variants', variant, 'model.onnx'), join(dir, target, 'model.onnx'));
}
