/** @imagegen/storage — the only package that talks to the object store. */
export {
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  newObjectKey,
  ObjectStore,
  storageFromEnv,
  type StorageConfig,
  type StorageEnv,
  type StoredObject,
} from './object-store.js';
