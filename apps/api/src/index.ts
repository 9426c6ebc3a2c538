export { createApp, type ApiDeps } from './app.js';
export { loadApiConfig, type ApiConfig } from './config.js';
export { startApi, type RunningApi } from './server.js';
