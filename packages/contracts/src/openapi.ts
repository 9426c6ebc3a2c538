import { z } from 'zod';

import { CreateGenerationRequest, ErrorResponse, Job } from './api.js';

const schema = (s: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(s, { io, target: 'openapi-3.0', unrepresentable: 'any' });

/** The OpenAPI 3 document served at `GET /openapi.json`, generated from the zod schemas. */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const error = {
    description: 'error',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
  const job = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Job' } } },
  });
  const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
  const waitParam = {
    name: 'wait',
    in: 'query',
    required: false,
    schema: { type: 'integer', minimum: 0, maximum: 60 },
  };
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
        Error: schema(ErrorResponse, 'output'),
      },
    },
    security: [{ bearer: [] }, { xKey: [] }],
    paths: {
      '/v1/images/generations': {
        post: {
          summary: 'Submit a generation',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
            { name: 'Prefer', in: 'header', required: false, schema: { type: 'string', example: 'wait=10' } },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/CreateGenerationRequest' } },
            },
          },
          responses: {
            '200': job('finished within the requested wait'),
            '202': job('accepted'),
            '400': error,
            '401': error,
            '409': error,
            '413': error,
            '415': error,
            '429': error,
            '503': error,
          },
        },
      },
      '/v1/images/generations/{id}': {
        get: {
          summary: 'Read a generation',
          parameters: [idParam, waitParam],
          responses: { '200': job('the job'), '401': error, '404': error },
        },
      },
      '/v1/images/generations/{id}/events': {
        get: {
          summary: 'Server-sent events of a generation',
          parameters: [idParam],
          responses: {
            '200': { description: 'text/event-stream: queued, started, progress, completed' },
            '404': error,
          },
        },
      },
      '/v1/images/generations/{id}/cancel': {
        post: {
          summary: 'Cancel a generation',
          parameters: [idParam],
          responses: { '200': job('canceled'), '404': error, '409': error },
        },
      },
      '/healthz': {
        get: { summary: 'Process is up', security: [], responses: { '200': { description: 'ok' } } },
      },
      '/readyz': {
        get: {
          summary: 'Redis and storage reachable',
          security: [],
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          security: [],
          responses: { '200': { description: 'text/plain' } },
        },
      },
    },
  };
}
