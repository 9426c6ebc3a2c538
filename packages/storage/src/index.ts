/** @imagegen/storage — the only package that talks to the object store. */
export { newObjectKey, ObjectStore, type StorageConfig, type StoredObject } from './object-store.js';
