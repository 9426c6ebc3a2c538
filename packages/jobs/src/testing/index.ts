/** @imagegen/jobs/testing — in-memory fakes of the data layer for the fast test tier. */
export { MemoryJobRepository } from './memory-job-repository.js';
