import type { ServerResponse } from 'node:http';

import { S3Error, sendXml } from './http.js';
import { listObjectsXml } from './listing.js';
import type { FileStore } from './store.js';
import { el, S3_NS, textsOf } from './xml.js';

/** Requests on a bucket (no key): location, lifecycle, batch delete, create, head, delete, list. */
export async function bucketOperation(
  method: string,
  bucket: string,
  exists: boolean,
  q: Map<string, string>,
  body: Buffer,
  res: ServerResponse,
  store: FileStore,
  region: string,
): Promise<void> {
  const needBucket = () => {
    if (!exists) throw new S3Error(404, 'NoSuchBucket', 'the bucket does not exist');
  };
  if (q.has('location') && method === 'GET') {
    needBucket();
    sendXml(
      res,
      200,
      `<LocationConstraint xmlns="${S3_NS}">${region === 'us-east-1' ? '' : region}</LocationConstraint>`,
    );
    return;
  }
  if (q.has('lifecycle')) {
    needBucket();
    if (method === 'PUT') {
      await store.writeConfig(bucket, 'lifecycle', body.toString('utf8'));
      res.writeHead(200, { 'Content-Length': 0 });
      res.end();
    } else if (method === 'DELETE') {
      await store.writeConfig(bucket, 'lifecycle', null);
      res.writeHead(204);
      res.end();
    } else {
      const xml = await store.readConfig(bucket, 'lifecycle');
      if (!xml)
        throw new S3Error(404, 'NoSuchLifecycleConfiguration', 'the bucket has no lifecycle configuration');
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end(xml);
    }
    return;
  }
  if (q.has('delete') && method === 'POST') {
    needBucket();
    const keys = textsOf(body.toString('utf8'), 'Key');
    for (const k of keys) await store.delete(bucket, k);
    sendXml(
      res,
      200,
      `<DeleteResult xmlns="${S3_NS}">${keys.map((k) => `<Deleted>${el('Key', k)}</Deleted>`).join('')}</DeleteResult>`,
    );
    return;
  }
  switch (method) {
    case 'PUT':
      if (!(await store.createBucket(bucket))) {
        throw new S3Error(409, 'BucketAlreadyOwnedByYou', 'the bucket already exists');
      }
      res.writeHead(200, { Location: `/${bucket}`, 'Content-Length': 0 });
      res.end();
      return;
    case 'HEAD':
      needBucket();
      res.writeHead(200);
      res.end();
      return;
    case 'DELETE':
      needBucket();
      if ((await store.deleteBucket(bucket)) === 'not_empty') {
        throw new S3Error(409, 'BucketNotEmpty', 'the bucket is not empty');
      }
      res.writeHead(204);
      res.end();
      return;
    case 'GET': {
      needBucket();
      sendXml(res, 200, await listObjectsXml(store, bucket, q));
      return;
    }
    default:
      throw new S3Error(405, 'MethodNotAllowed', `${method} is not supported on buckets`);
  }
}
