export { createApp, type ApiDeps, type ApiSettings } from './app.js';
export { startApi, type RunningApi } from './compose.js';
export { loadApiConfig, type ApiConfig } from './config.js';
