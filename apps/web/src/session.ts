/**
 * The API key and the clients made from it. The key lives in sessionStorage only (gone when the tab
 * closes); a `#key=…` link moves it there and out of the address bar before anything else runs.
 */
import { ImageGen } from '@imagegen/client';

import { keyFromFragment } from './format.js';

const STORAGE_KEY = 'imagegen.apiKey';

/** Moves a `#key=…` fragment into sessionStorage and removes it from the address bar and history entry. */
export function takeKeyFromAddress(): void {
  const found = keyFromFragment(location.hash);
  if (!found) return;
  history.replaceState(history.state, '', `${location.pathname}${location.search}${found.rest}`);
  saveKey(found.key);
}

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the key lives only in the field
  }
}

export function saveKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // storage disabled or full: the key still works for this page's life
  }
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

/** The clients the page talks through, made from one key. */
export interface Clients {
  key: string;
  /** Reads, event streams and cancels: retried on 429/5xx and network errors (Retry-After honoured). */
  api: ImageGen;
  /**
   * Submits and prompt analysis: never retried, so a rate limit or a full queue is shown with its
   * Retry-After time at once instead of the page waiting silently.
   */
  once: ImageGen;
}

export function clientsFor(key: string): Clients {
  const baseURL = location.origin;
  return {
    key,
    api: new ImageGen({ apiKey: key, baseURL }),
    once: new ImageGen({ apiKey: key, baseURL, maxRetries: 0 }),
  };
}
