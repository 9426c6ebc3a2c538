/**
 * The page's few DOM helpers. Elements are made with createElement and filled with textContent only: no
 * HTML strings anywhere, so the Content-Security-Policy can require Trusted Types for every HTML sink.
 */

type Child = Node | string | null | undefined | false;

/** An element with attributes (false/null/undefined left out, true as an empty attribute) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number | boolean | null | undefined>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** The element with this id, of this type; throws when index.html lacks it (a build mistake). */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`index.html has no #${id} of the expected kind`);
  return el;
}

const tickers = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;

/**
 * Calls `fn` every second (one shared timer for every countdown and expiry on the page) until the returned
 * function is called.
 */
export function everySecond(fn: () => void): () => void {
  tickers.add(fn);
  timer ??= setInterval(() => {
    for (const t of [...tickers]) t();
  }, 1000);
  return () => {
    tickers.delete(fn);
    if (tickers.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
