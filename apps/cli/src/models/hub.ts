import { downloadFile, HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';

import { CommandError, SetupError, UsageError } from '../usage.js';

/** The Hugging Face Hub, unless HF_ENDPOINT names a mirror or another compatible hub. */
export const DEFAULT_HUB = 'https://huggingface.co';

/** Where and as whom to reach the hub: HF_ENDPOINT and HF_TOKEN, checked. */
export interface HubAccess {
  hubUrl: string;
  accessToken?: string;
}

export function hubAccess(endpoint: string | undefined, token: string | undefined): HubAccess {
  const hubUrl = (endpoint ?? DEFAULT_HUB).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(hubUrl) || !URL.canParse(hubUrl)) {
    throw new SetupError(`HF_ENDPOINT must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }
  if (token !== undefined && !token.startsWith('hf_')) {
    throw new SetupError('HF_TOKEN must be a Hugging Face access token (it starts with hf_)');
  }
  return token === undefined ? { hubUrl } : { hubUrl, accessToken: token };
}

/** `owner/name[@revision]`, as `models pull` takes it. */
export function parseRepoSpec(spec: string): { repo: string; revision: string } {
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const revision = at < 0 ? 'main' : spec.slice(at + 1);
  if (!/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(repo) || repo.includes('..')) {
    throw new UsageError(`REPO must be owner/name (as on the Hub, e.g. onnxruntime/sd-turbo), got "${repo}"`);
  }
  if (!revision || /[\s]|\.\./.test(revision)) {
    throw new UsageError(`the revision after @ must be a branch, tag or commit, got "${revision}"`);
  }
  return { repo, revision };
}

/** A hub answer as a message that says what to do. */
function hubError(e: unknown, repo: string, what: string, access: HubAccess): Error {
  if (!(e instanceof HubApiError)) {
    const cause = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    return new CommandError(`${what}: cannot reach ${access.hubUrl} (${cause})`);
  }
  switch (e.statusCode) {
    case 401:
      return new CommandError(
        access.accessToken
          ? `${repo}: the hub refused HF_TOKEN (401); check the token`
          : `${repo}: the hub asks for authentication (401): the repository is gated or private, or does not ` +
              `exist; accept its terms on the Hub and set HF_TOKEN to an access token`,
      );
    case 403:
      return new CommandError(
        `${repo}: HF_TOKEN has no access (403); accept the repository's terms on the Hub with this account`,
      );
    case 404:
      return new CommandError(`${what}: not found on ${access.hubUrl} (404)`);
    default:
      return new CommandError(`${what}: the hub answered ${e.statusCode}: ${e.message}`);
  }
}

/** The commit a revision names now, so every file of a pull comes from the same one. */
export async function resolveCommit(access: HubAccess, repo: string, revision: string): Promise<string> {
  try {
    const info = await modelInfo({ ...access, name: repo, revision, additionalFields: ['sha'] });
    if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) {
      throw new CommandError(`${repo}@${revision}: the hub did not say which commit it is`);
    }
    return info.sha;
  } catch (e) {
    if (e instanceof CommandError) throw e;
    throw hubError(e, repo, `${repo}@${revision}`, access);
  }
}

/** Every file of the repository at a commit (the tree listing, all pages). */
export async function listRepoFiles(
  access: HubAccess,
  repo: string,
  commit: string,
): Promise<ListFileEntry[]> {
  const files: ListFileEntry[] = [];
  try {
    for await (const entry of listFiles({ ...access, repo, revision: commit, recursive: true })) {
      if (entry.type === 'file') files.push(entry);
    }
  } catch (e) {
    throw hubError(e, repo, `${repo}: listing its files`, access);
  }
  return files;
}

/**
 * The bytes of one file from `offset` on, as a stream: the library resolves the file (following the
 * hub's redirect to its storage) and asks for the rest with a Range request.
 */
export async function openFile(
  access: HubAccess,
  repo: string,
  commit: string,
  path: string,
  offset: number,
): Promise<{ size: number; stream: ReadableStream<Uint8Array> }> {
  let blob: Blob | null;
  try {
    blob = await downloadFile({ ...access, repo, revision: commit, path });
  } catch (e) {
    throw hubError(e, repo, `${repo}: ${path}`, access);
  }
  if (!blob) throw new CommandError(`${repo}: ${path} is listed but the hub does not serve it (404)`);
  return { size: blob.size, stream: blob.slice(offset).stream() };
}
