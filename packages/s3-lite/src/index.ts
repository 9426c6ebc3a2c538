/** @imagegen/s3-lite — a small SigV4-verifying S3-compatible server for one machine. */
export { S3LiteServer, type S3LiteOptions } from './server.js';
export { verifyRequest, uriEncode, signingKey } from './sigv4.js';
