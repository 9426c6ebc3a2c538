import { isoDate } from './http.js';
import type { FileStore } from './store.js';
import { el, S3_NS } from './xml.js';

/** ListAllMyBucketsResult for the service-level GET. */
export async function listBucketsXml(store: FileStore): Promise<string> {
  const buckets = await store.buckets();
  return `<ListAllMyBucketsResult xmlns="${S3_NS}"><Owner>${el('ID', 'imagegen')}</Owner><Buckets>${buckets
    .map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', isoDate(b.created))}</Bucket>`)
    .join('')}</Buckets></ListAllMyBucketsResult>`;
}

/** ListBucketResult for ListObjects v1 (`marker`) and v2 (`list-type=2`, continuation token). */
export async function listObjectsXml(
  store: FileStore,
  bucket: string,
  q: Map<string, string>,
): Promise<string> {
  const prefix = q.get('prefix') ?? '';
  const max = Math.max(0, Math.min(1000, Number(q.get('max-keys') ?? 1000) || 0));
  const v2 = q.get('list-type') === '2';
  const after = v2 ? (q.get('continuation-token') ?? q.get('start-after') ?? '') : (q.get('marker') ?? '');
  const all = (await store.list(bucket, prefix)).filter((o) => o.key > after);
  const page = all.slice(0, max);
  const truncated = all.length > page.length;
  const contents = page
    .map(
      (o) =>
        `<Contents>${el('Key', o.key)}${el('LastModified', isoDate(o.lastModified))}${el('ETag', `"${o.etag}"`)}${el('Size', o.size)}${el('StorageClass', 'STANDARD')}</Contents>`,
    )
    .join('');
  const last = page[page.length - 1]?.key ?? '';
  const paging = v2
    ? `${el('KeyCount', page.length)}${truncated ? el('NextContinuationToken', last) : ''}`
    : `${el('Marker', after)}${truncated ? el('NextMarker', last) : ''}`;
  return `<ListBucketResult xmlns="${S3_NS}">${el('Name', bucket)}${el('Prefix', prefix)}${el('MaxKeys', max)}${el('IsTruncated', truncated)}${paging}${contents}</ListBucketResult>`;
}
