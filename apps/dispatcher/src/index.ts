export { createDispatcher, type Dispatcher, type DispatcherDeps } from './create-dispatcher.js';
export { loadDispatcherConfig, type DispatcherConfig } from './config.js';
export { startDispatcher, type DispatcherTesting, type RunningDispatcher } from './dispatcher.js';
export { Janitor, type JanitorDeps } from './janitor.js';
export { OutboxPump, type OutboxPumpDeps } from './outbox-pump.js';
export { deliverWebhook, DeliveryFailure, type DeliveryDeps } from './webhook-delivery.js';
