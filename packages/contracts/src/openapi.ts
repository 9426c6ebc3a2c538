import { z } from 'zod';

import {
  AnalyzePromptRequest,
  AnalyzePromptResponse,
  CreateGenerationRequest,
  ErrorResponse,
  Job,
  JOB_STATUSES,
} from './api.js';
import { JobEventData } from './events.js';

const schema = (s: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(s, { io, target: 'openapi-3.0', unrepresentable: 'any' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, name: string) => ({
  description,
  content: { 'application/json': { schema: ref(name) } },
});
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: '#/components/responses/Error' }]));

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const waitParam = {
  name: 'wait',
  in: 'query',
  required: false,
  description: 'seconds to wait for the job to end (long poll), at most MAX_WAIT_S',
  schema: { type: 'integer', minimum: 0, maximum: 600 },
};
const noAuth = { security: [] };
/** The paging and filter parameters of the job lists (the key's own and the admin's). */
const pageParams = [
  {
    name: 'limit',
    in: 'query',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  },
  {
    name: 'status',
    in: 'query',
    required: false,
    description: 'one or more statuses, comma-separated',
    schema: { type: 'string', example: JOB_STATUSES.slice(0, 2).join(',') },
  },
  {
    name: 'cursor',
    in: 'query',
    required: false,
    description: 'next_cursor of the previous page',
    schema: { type: 'string' },
  },
];

/** The admin endpoints (key management, all keys' jobs), present only when the server has ADMIN_API_KEY set. */
function adminPaths(): Record<string, unknown> {
  const admin = { security: [{ bearer: [] }], tags: ['admin'] };
  const keyId = {
    name: 'id',
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: '^[0-9a-f]{12}$' },
  };
  const body = (properties: Record<string, unknown>, required: string[] = []) => ({
    required: true,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          additionalProperties: false,
          properties,
          ...(required.length > 0 ? { required } : {}),
        },
      },
    },
  });
  return {
    '/admin/v1/keys': {
      get: {
        ...admin,
        operationId: 'listApiKeys',
        summary: 'List API keys',
        responses: { '200': { description: 'the keys' }, ...errors(401) },
      },
      post: {
        ...admin,
        operationId: 'createApiKey',
        summary: 'Create an API key (its secret and webhook secret are shown once)',
        requestBody: body({ name: { type: 'string', minLength: 1, maxLength: 100 } }, ['name']),
        responses: { '201': { description: 'the new key' }, ...errors(400, 401) },
      },
    },
    '/admin/v1/jobs': {
      get: {
        ...admin,
        operationId: 'listAllJobs',
        summary: 'Every key’s jobs (or one key’s), newest first, paged like listGenerations',
        parameters: [{ name: 'key_id', in: 'query', required: false, schema: keyId.schema }, ...pageParams],
        responses: { '200': { description: 'the jobs, each with its key_id' }, ...errors(400, 401) },
      },
    },
    '/admin/v1/keys/{id}': {
      patch: {
        ...admin,
        operationId: 'updateApiKeyScheduling',
        summary:
          'Set how a key’s jobs are scheduled: its weight in the fair order (jobs per round) and its policy at the concurrency limit (reject: 429; queue: accept and hold until a slot frees)',
        parameters: [keyId],
        requestBody: body({
          weight: { type: 'integer', minimum: 1, maximum: 100 },
          concurrency_policy: { type: 'string', enum: ['reject', 'queue'] },
        }),
        responses: { '200': { description: 'the key' }, ...errors(400, 401, 404) },
      },
      delete: {
        ...admin,
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        parameters: [keyId],
        responses: { '200': { description: 'revoked' }, ...errors(401, 404) },
      },
    },
    '/admin/v1/keys/{id}/webhook-secret/rotate': {
      post: {
        ...admin,
        operationId: 'rotateWebhookSecret',
        summary: 'Rotate a key’s webhook signing secret, the old one signing too for a grace period',
        parameters: [keyId],
        requestBody: body({ grace_seconds: { type: 'integer', minimum: 0, maximum: 2_592_000 } }),
        responses: { '200': { description: 'the new secret' }, ...errors(400, 401, 404) },
      },
    },
  };
}

/**
 * The OpenAPI 3 document served at `GET /openapi.json`, generated from the zod schemas: every route with
 * an `operationId`, the job, list and prompt-check objects, the error envelope and the data of each
 * server-sent event.
 */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const sseSchemas = Object.fromEntries(
    Object.entries(JobEventData).map(([name, s]) => [
      `Event${name[0]!.toUpperCase()}${name.slice(1)}`,
      name === 'completed' ? ref('Job') : schema(s, 'output'),
    ]),
  );
  return {
    openapi: '3.0.3',
    info: { title: 'imagegen', version: '1', description: 'Asynchronous text-to-image generation' },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        xKey: { type: 'apiKey', in: 'header', name: 'x-key' },
      },
      schemas: {
        CreateGenerationRequest: schema(CreateGenerationRequest, 'input'),
        Job: schema(Job, 'output'),
        AnalyzePromptRequest: schema(AnalyzePromptRequest, 'input'),
        PromptAnalysis: schema(AnalyzePromptResponse, 'output'),
        Error: schema(ErrorResponse, 'output'),
        ...sseSchemas,
      },
      responses: { Error: json('error', 'Error') },
    },
    security: [{ bearer: [] }, { xKey: [] }],
    paths: {
      '/v1/images/generations': {
        post: {
          operationId: 'createGeneration',
          summary: 'Submit a generation',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
            { name: 'Prefer', in: 'header', required: false, schema: { type: 'string', example: 'wait=10' } },
            {
              name: 'Cache-Control',
              in: 'header',
              required: false,
              description:
                'Result reuse: a request with an explicit seed that is identical to an earlier one of the same key is answered from a copy of its alive result (cached: true), or waits for the identical job still running. no-cache generates anew (and later requests reuse that result); no-store neither reuses nor offers the result.',
              schema: { type: 'string', example: 'no-cache' },
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('CreateGenerationRequest') } },
          },
          responses: {
            '200': json('finished within the requested wait, or answered from a cached result', 'Job'),
            '202': json('accepted', 'Job'),
            ...errors(400, 401, 409, 413, 415, 429, 503),
          },
        },
        get: {
          operationId: 'listGenerations',
          summary: 'The key’s jobs, newest first (retained 24 h)',
          parameters: pageParams,
          responses: {
            '200': {
              description: 'one page',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['object', 'data', 'next_cursor'],
                    properties: {
                      object: { type: 'string', enum: ['list'] },
                      data: { type: 'array', items: ref('Job') },
                      next_cursor: { type: 'string', nullable: true },
                    },
                  },
                },
              },
            },
            ...errors(400, 401, 429),
          },
        },
      },
      '/v1/images/generations/{id}': {
        get: {
          operationId: 'getGeneration',
          summary: 'Read a generation',
          parameters: [idParam, waitParam],
          responses: { '200': json('the job', 'Job'), ...errors(400, 401, 404, 429) },
        },
      },
      '/v1/images/generations/{id}/events': {
        get: {
          operationId: 'streamGenerationEvents',
          summary: 'Server-sent events of a generation',
          description:
            'text/event-stream. Each event has an `id` (resume with Last-Event-ID), a name and JSON data: ' +
            '`queued` (EventQueued), `started` (EventStarted), `progress` (EventProgress) and one terminal ' +
            '`completed` carrying the job (EventCompleted); then the stream ends. With `previews=1`, extra ' +
            '`progress` events without an `id` carry `preview`, a small JPEG data URL of the image being ' +
            'denoised (at most every PREVIEW_EVERY_STEPS steps and twice a second; never stored).',
          parameters: [
            idParam,
            {
              name: 'previews',
              in: 'query',
              required: false,
              description: '1 or true: live previews on progress events; 0, false or absent: none',
              schema: { type: 'string', enum: ['1', 'true', '0', 'false'] },
            },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'the event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errors(400, 401, 404, 429),
          },
        },
      },
      '/v1/images/generations/{id}/cancel': {
        post: {
          operationId: 'cancelGeneration',
          summary: 'Cancel a generation',
          parameters: [idParam],
          responses: {
            '200': json('canceled', 'Job'),
            '202': json('cancel requested; the worker stops at its next step', 'Job'),
            ...errors(401, 404, 409, 429),
          },
        },
      },
      '/v1/prompts/analyze': {
        post: {
          operationId: 'analyzePrompt',
          summary: 'Analyse, lint and moderate a prompt without queueing anything',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('AnalyzePromptRequest') } },
          },
          responses: { '200': json('the analysis', 'PromptAnalysis'), ...errors(400, 401, 415, 429) },
        },
      },
      '/healthz': {
        get: {
          ...noAuth,
          operationId: 'health',
          summary: 'Process is up',
          responses: { '200': { description: 'ok' } },
        },
      },
      '/readyz': {
        get: {
          ...noAuth,
          operationId: 'ready',
          summary: 'Redis and storage reachable',
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
      '/metrics': {
        get: {
          ...noAuth,
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'text/plain' } },
        },
      },
      '/openapi.json': {
        get: {
          ...noAuth,
          operationId: 'openapi',
          summary: 'This document',
          responses: { '200': { description: 'OpenAPI 3' } },
        },
      },
      ...adminPaths(),
    },
  };
}
