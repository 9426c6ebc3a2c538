/** @imagegen/contracts — everything that crosses a process boundary, defined once. */
export * from './api.js';
export * from './events.js';
export * from './env.js';
export { openApiDocument } from './openapi.js';
export * from './errors.js';
