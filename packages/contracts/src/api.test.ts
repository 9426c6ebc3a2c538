import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';

import { CreateGenerationRequest } from './api.js';
import { openApiDocument } from './openapi.js';

const issue = (body: unknown) => {
  const r = CreateGenerationRequest.safeParse(body);
  if (r.success) return null;
  const first = r.error.issues[0]!;
  return { path: first.path.join('.'), message: first.message };
};

describe('CreateGenerationRequest', () => {
  it('applies the vendor defaults', () => {
    expect(CreateGenerationRequest.parse({ prompt: '  A red circle ' })).toEqual({
      prompt: 'A red circle',
      aspect_ratio: '16:9',
      output_format: 'jpeg',
      prompt_upsampling: false,
      safety_tolerance: 2,
    });
  });

  it.each([
    [{ prompt: '' }, 'prompt', 'prompt must not be empty'],
    [{ prompt: '   ' }, 'prompt', 'prompt must not be empty'],
    [{ prompt: 'x'.repeat(2001) }, 'prompt', 'prompt must be at most 2000 characters'],
    [{ prompt: 5 }, 'prompt', 'prompt must be a string'],
    [{}, 'prompt', 'prompt must be a string'],
    [{ prompt: 'a', seed: -1 }, 'seed', 'seed must be an integer between 0 and 4294967295'],
    [{ prompt: 'a', seed: 4294967296 }, 'seed', 'seed must be an integer between 0 and 4294967295'],
    [{ prompt: 'a', seed: 1.5 }, 'seed', 'seed must be an integer between 0 and 4294967295'],
    [{ prompt: 'a', seed: '42' }, 'seed', 'seed must be an integer between 0 and 4294967295'],
    [
      { prompt: 'a', safety_tolerance: 7 },
      'safety_tolerance',
      'safety_tolerance must be an integer between 0 and 6',
    ],
    [
      { prompt: 'a', aspect_ratio: '5:4' },
      'aspect_ratio',
      'aspect_ratio must be one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 9:21',
    ],
    [{ prompt: 'a', output_format: 'gif' }, 'output_format', 'output_format must be jpeg or png'],
    [
      { prompt: 'a', prompt_upsampling: 'yes' },
      'prompt_upsampling',
      'prompt_upsampling must be true or false',
    ],
    [
      { prompt: 'a', metadata: { big: 'x'.repeat(5000) } },
      'metadata',
      'metadata must be at most 4096 bytes as JSON',
    ],
    [{ prompt: 'a', metadata: [1] }, 'metadata', 'metadata must be a JSON object'],
  ])('rejects %j at %s', (body, path, message) => {
    expect(issue(body)).toEqual({ path, message });
  });

  it('rejects unknown fields by name', () => {
    const r = CreateGenerationRequest.safeParse({ prompt: 'a', steps: 4 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['steps'] });
  });

  it('accepts the boundaries', () => {
    expect(
      CreateGenerationRequest.parse({ prompt: 'x'.repeat(2000), seed: 4294967295, safety_tolerance: 6 }).seed,
    ).toBe(4294967295);
    expect(CreateGenerationRequest.parse({ prompt: 'a', seed: 0, safety_tolerance: 0 }).seed).toBe(0);
  });
});

describe('OpenAPI document', () => {
  it('is a valid OpenAPI 3 document, with an operationId on every operation', async () => {
    const doc = openApiDocument('http://localhost:8080');
    // A real validator: the OpenAPI 3.0 schema, $refs resolved, operationIds unique.
    await SwaggerParser.validate(structuredClone(doc) as never);
    const paths = doc['paths'] as Record<string, Record<string, { operationId?: string }>>;
    const ops = Object.values(paths).flatMap((p) => Object.values(p));
    expect(ops.every((o) => typeof o.operationId === 'string')).toBe(true);
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/v1/images/generations',
        '/v1/prompts/analyze',
        '/v1/images/generations/{id}/events',
        '/admin/v1/keys',
      ]),
    );
    const schemas = (doc['components'] as { schemas: Record<string, unknown> }).schemas;
    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        'EventQueued',
        'EventStarted',
        'EventProgress',
        'EventCompleted',
        'PromptAnalysis',
      ]),
    );
  });

  it('is generated from the schemas', () => {
    const doc = openApiDocument('http://localhost:8080') as {
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> };
    };
    const req = doc.components.schemas['CreateGenerationRequest']!;
    expect(Object.keys(req.properties!)).toEqual(
      expect.arrayContaining([
        'prompt',
        'aspect_ratio',
        'output_format',
        'seed',
        'prompt_upsampling',
        'safety_tolerance',
        'metadata',
      ]),
    );
    expect(req.required).toEqual(['prompt']);
    expect(Object.keys(doc.components.schemas['Job']!.properties!)).toEqual(
      expect.arrayContaining(['image_url', 'seed', 'request_id', 'revised_prompt', 'success']),
    );
  });
});
