import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, relative, sep } from 'node:path';

/**
 * A Hugging Face-compatible hub on loopback, for `imagegen models pull` run through the official
 * `@huggingface/hub` library. It answers the calls that library makes, as the Hub does:
 * - `GET /api/models/{repo}/revision/{rev}` (model info, with the commit `sha`);
 * - `GET /api/models/{repo}/tree/{rev}?recursive=true` (the file listing: `oid` = git blob sha1, and for
 *   LFS files `lfs.oid` = sha256), paginated with a `Link: <…>; rel="next"` header;
 * - `GET /{repo}/resolve/{rev}/{path}`: small files directly (`ETag` = blob id); LFS files with a 302 to
 *   `/cdn/{sha256}` (`X-Linked-Etag`, `X-Linked-Size`), where the bytes are served; both honour `Range`
 *   (206 with `Content-Range`, 416 past the end);
 * - 401 for a gated repository without the right token, 404 with `X-Error-Code` for what does not exist.
 * Fault injection for tests: cut a file's body after N bytes, or serve it with one byte changed.
 */

interface HubFile {
  path: string;
  bytes: Buffer;
  oid: string;
  sha256: string;
  lfs: boolean;
}

interface HubRepo {
  files: HubFile[];
  commit: string;
  gated: boolean;
}

export interface HubRequest {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface LoopbackHub {
  url: string;
  requests: HubRequest[];
  /** The next `times` responses with this file's bytes end (connection destroyed) after `bytes` bytes. */
  cutAfter: (path: string, bytes: number, times?: number) => void;
  /** Serve this file with its middle byte flipped (the listing still gives the true hashes). */
  corrupt: (path: string, on: boolean) => void;
  repo: (name: string) => HubRepo;
  close: () => Promise<void>;
}

/** Files over this size are LFS files, as a hub would store model weights. */
const LFS_THRESHOLD = 1024;
const PAGE_SIZE = 7;

function filesOf(dir: string, extra: Record<string, Buffer>): HubFile[] {
  const out: HubFile[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(file(relative(dir, full).split(sep).join('/'), readFileSync(full)));
    }
  };
  const file = (path: string, bytes: Buffer): HubFile => ({
    path,
    bytes,
    oid: createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    lfs: bytes.length > LFS_THRESHOLD,
  });
  walk(dir);
  for (const [path, bytes] of Object.entries(extra)) out.push(file(path, bytes));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export async function startHub(options: {
  /** `owner/name` → the directory it serves, extra files, and whether it is gated. */
  repos: Record<string, { dir: string; extra?: Record<string, Buffer>; gated?: boolean }>;
  /** The token a gated repository accepts. */
  token?: string;
}): Promise<LoopbackHub> {
  const repos = new Map<string, HubRepo>();
  for (const [name, spec] of Object.entries(options.repos)) {
    const files = filesOf(spec.dir, spec.extra ?? {});
    const commit = createHash('sha1')
      .update(name + files.map((f) => f.path + f.oid).join())
      .digest('hex');
    repos.set(name, { files, commit, gated: spec.gated ?? false });
  }
  const requests: HubRequest[] = [];
  const cuts = new Map<string, { bytes: number; times: number }>();
  const corrupted = new Set<string>();
  let base = '';

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
  const notFound = (res: ServerResponse, code: string, message: string) =>
    json(res, 404, { error: message }, { 'X-Error-Code': code });

  /** Serves bytes with Range support and the injected faults. */
  const sendBytes = (
    req: IncomingMessage,
    res: ServerResponse,
    f: HubFile,
    headers: Record<string, string>,
  ) => {
    let bytes = f.bytes;
    if (corrupted.has(f.path)) {
      bytes = Buffer.from(bytes);
      const i = bytes.length >> 1;
      bytes[i] = bytes[i]! ^ 0xff;
    }
    let start = 0;
    let end = bytes.length - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
        return;
      }
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
      status = 206;
    }
    const body = bytes.subarray(start, end + 1);
    res.writeHead(status, {
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(body.length),
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    });
    const cut = cuts.get(f.path);
    // A body of more than one byte is cut (the 0-0 probe the library sends first is not).
    if (cut && cut.times > 0 && body.length > 1) {
      cut.times--;
      res.write(body.subarray(0, Math.min(cut.bytes, body.length - 1)), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  };

  const allowed = (repo: HubRepo, req: IncomingMessage) =>
    !repo.gated || req.headers.authorization === `Bearer ${options.token}`;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    const path = decodeURIComponent(url.pathname);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    const repoAt = (name: string, rev: string): HubRepo | 'repo' | 'revision' => {
      const repo = repos.get(name);
      if (!repo) return 'repo';
      return rev === 'main' || rev === repo.commit ? repo : 'revision';
    };
    if (api) {
      const [, name, kind, rev] = api as unknown as [string, string, string, string];
      const repo = repoAt(name, rev);
      if (repo === 'repo') return notFound(res, 'RepositoryNotFound', 'Repository not found');
      if (repo === 'revision') return notFound(res, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      if (kind === 'revision') {
        return json(res, 200, {
          _id: repo.commit.slice(0, 24),
          id: name,
          sha: repo.commit,
          private: false,
          gated: repo.gated ? 'manual' : false,
          downloads: 0,
          likes: 0,
          lastModified: '2026-01-01T00:00:00.000Z',
          pipeline_tag: 'text-to-image',
        });
      }
      const entries = [
        ...new Set(
          repo.files.flatMap((f) =>
            f.path
              .split('/')
              .slice(0, -1)
              .map((_, i, a) => a.slice(0, i + 1).join('/')),
          ),
        ),
      ]
        .map((dir) => ({
          type: 'directory',
          oid: createHash('sha1').update(dir).digest('hex'),
          size: 0,
          path: dir,
        }))
        .concat(
          repo.files.map((f) => ({
            type: 'file',
            oid: f.oid,
            size: f.bytes.length,
            path: f.path,
            ...(f.lfs ? { lfs: { oid: f.sha256, size: f.bytes.length, pointerSize: 132 } } : {}),
          })),
        )
        .sort((a, b) => a.path.localeCompare(b.path));
      const from = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(from, from + PAGE_SIZE);
      const headers: Record<string, string> = {};
      if (from + PAGE_SIZE < entries.length) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(from + PAGE_SIZE));
        headers['Link'] = `<${next.href}>; rel="next"`;
      }
      return json(res, 200, page, headers);
    }
    if (resolve) {
      const [, name, rev, filePath] = resolve as unknown as [string, string, string, string];
      const repo = repoAt(name, rev);
      if (repo === 'repo') return notFound(res, 'RepositoryNotFound', 'Repository not found');
      if (repo === 'revision') return notFound(res, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      if (!allowed(repo, req)) {
        return json(
          res,
          401,
          {
            error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
          },
          { 'X-Error-Code': 'GatedRepo' },
        );
      }
      const f = repo.files.find((x) => x.path === filePath);
      if (!f) return notFound(res, 'EntryNotFound', `${filePath} does not exist on "${rev}"`);
      const common = { 'X-Repo-Commit': repo.commit };
      if (f.lfs) {
        res
          .writeHead(302, {
            ...common,
            Location: `${base}/cdn/${f.sha256}`,
            'X-Linked-Etag': `"${f.sha256}"`,
            'X-Linked-Size': String(f.bytes.length),
            ETag: `"${f.oid}"`,
          })
          .end();
        return;
      }
      return sendBytes(req, res, f, { ...common, ETag: `"${f.oid}"` });
    }
    if (cdn) {
      const f = [...repos.values()].flatMap((r) => r.files).find((x) => x.sha256 === cdn[1]);
      if (!f) return notFound(res, 'EntryNotFound', 'no such object');
      return sendBytes(req, res, f, { ETag: `"${f.sha256}"` });
    }
    notFound(res, 'EntryNotFound', `no route ${path}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: base,
    requests,
    cutAfter: (path, bytes, times = 1) => cuts.set(path, { bytes, times }),
    corrupt: (path, on) => (on ? corrupted.add(path) : corrupted.delete(path)),
    repo: (name) => repos.get(name)!,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
