/** @imagegen/storage — the only package that talks to the object store. */
export {
  newObjectKey,
  ObjectStore,
  storageFromEnv,
  type StorageConfig,
  type StorageEnv,
  type StoredObject,
} from './object-store.js';
