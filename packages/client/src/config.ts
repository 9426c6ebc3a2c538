/**
 * Defaults from the environment where there is one (Node): `IMAGEGEN_API_KEY` and `IMAGEGEN_BASE_URL`.
 * In a browser there is no `process`, and nothing is read. Empty values count as unset.
 */
export function environmentDefaults(): { apiKey: string | undefined; baseURL: string | undefined } {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return {
    apiKey: env?.['IMAGEGEN_API_KEY'] || undefined,
    baseURL: env?.['IMAGEGEN_BASE_URL'] || undefined,
  };
}
