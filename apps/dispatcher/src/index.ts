export {
  loadDispatcherConfig,
  startDispatcher,
  type DispatcherConfig,
  type RunningDispatcher,
} from './dispatcher.js';
