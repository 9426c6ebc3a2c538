export { loadDispatcherConfig, type DispatcherConfig } from './config.js';
export { startDispatcher, type RunningDispatcher } from './dispatcher.js';
