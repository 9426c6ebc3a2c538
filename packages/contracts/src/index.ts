/** @imagegen/contracts — everything that crosses a process boundary, defined once. */
export * from './api.js';
export * from './events.js';
export * from './errors.js';
export * from './job-record.js';
export * from './jobs.js';
export * from './models.js';
export * from './env.js';
export { openApiDocument } from './openapi.js';
