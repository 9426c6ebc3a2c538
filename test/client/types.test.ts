import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, expectTypeOf, it } from 'vitest';

import type * as Client from '@imagegen/client';
import { VERSION } from '@imagegen/client';
import type * as Contracts from '@imagegen/contracts';

const version = (path: string) =>
  (
    JSON.parse(
      readFileSync(fileURLToPath(new URL(`../../${path}/package.json`, import.meta.url)), 'utf8'),
    ) as {
      version: string;
    }
  ).version;

const clientDir = fileURLToPath(new URL('../../packages/client/', import.meta.url));

/** Every module specifier the file imports, and the files of its relative imports, transitively. */
function importGraph(entry: string): { files: string[]; specifiers: string[] } {
  const files: string[] = [];
  const specifiers = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.includes(file)) continue;
    files.push(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g,
    )) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) pending.push(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else specifiers.add(spec);
    }
  }
  return { files, specifiers: [...specifiers] };
}

describe('@imagegen/client is publishable and browser-safe', () => {
  it('has no runtime dependencies and its browser entry imports nothing from Node', () => {
    const pkg = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg['dependencies']).toBeUndefined();
    expect(pkg['private']).toBeUndefined();
    const browser = importGraph(join(clientDir, 'src/index.ts'));
    expect(browser.files.length).toBeGreaterThan(5);
    expect(browser.specifiers).toEqual([]);
    // The Node entry adds node: modules only.
    const node = importGraph(join(clientDir, 'src/node.ts'));
    expect(node.specifiers.every((s) => s.startsWith('node:'))).toBe(true);
    expect(node.specifiers).toContain('node:fs');
  });
});

describe('@imagegen/client is locked to the API it is tested against', () => {
  it('has the version of the service (api) and says so in VERSION', () => {
    expect(VERSION).toBe(version('packages/client'));
    expect(version('packages/client')).toBe(version('apps/api'));
  });

  it('types the wire exactly as the service’s zod schemas do (checked by the type checker)', () => {
    expectTypeOf<Client.Job>().toEqualTypeOf<Contracts.Job>();
    expectTypeOf<Client.ListPage>().toEqualTypeOf<Contracts.ListGenerationsResponse>();
    expectTypeOf<Client.PromptAnalysis>().toEqualTypeOf<Contracts.AnalyzePromptResponse>();
    expectTypeOf<Client.JobEvent>().toEqualTypeOf<Contracts.JobEvent>();
    expectTypeOf<Required<Client.GenerateParams>>().toEqualTypeOf<
      Required<Contracts.CreateGenerationRequest>
    >();
    expectTypeOf<Client.ErrorBody['error']['code']>().toEqualTypeOf<string>();
    expectTypeOf<Contracts.ErrorResponse>().toExtend<Client.ErrorBody>();
    expectTypeOf<Client.JobStatus>().toEqualTypeOf<Contracts.JobStatus>();
  });
});
