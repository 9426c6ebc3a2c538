/**
 * The key's jobs from `GET /v1/images/generations`, newest first, a page at a time: a thumbnail while the
 * image's link is alive, "expired" after (the page watches the expiry time, so it changes while open).
 */
import type { Job } from '@imagegen/client';

import { byId, everySecond, h } from './dom.js';
import { describeProblem } from './messages.js';
import type { Clients } from './session.js';

/** Jobs per history page. */
export const HISTORY_PAGE_SIZE = 6;

export class History {
  private readonly list = byId('history-list', HTMLOListElement);
  private readonly status = byId('history-status', HTMLParagraphElement);
  private readonly newer = byId('history-newer', HTMLButtonElement);
  private readonly older = byId('history-older', HTMLButtonElement);
  private readonly pageLabel = byId('history-page', HTMLSpanElement);
  /** The cursor of each page seen so far (undefined: the first); the last is the one shown. */
  private cursors: (string | undefined)[] = [undefined];
  private next: string | null = null;
  private loading: AbortController | undefined;
  private stopTick: (() => void) | undefined;

  constructor(
    private readonly clients: () => Clients | null,
    private readonly onReuse: (job: Job) => void,
  ) {
    this.newer.addEventListener('click', () => {
      if (this.cursors.length > 1) this.cursors.pop();
      void this.load();
    });
    this.older.addEventListener('click', () => {
      if (this.next === null) return;
      this.cursors.push(this.next);
      void this.load();
    });
  }

  /** Back to the newest page (after a generation, or a new key). */
  async refresh(): Promise<void> {
    this.cursors = [undefined];
    await this.load();
  }

  clear(): void {
    this.loading?.abort();
    this.stopTick?.();
    this.list.replaceChildren();
    this.status.textContent = '';
    this.pageLabel.textContent = '';
    this.newer.disabled = true;
    this.older.disabled = true;
  }

  private async load(): Promise<void> {
    const clients = this.clients();
    if (!clients) {
      this.clear();
      return;
    }
    this.loading?.abort();
    const ctrl = new AbortController();
    this.loading = ctrl;
    this.newer.disabled = true;
    this.older.disabled = true;
    try {
      const page = await clients.api.listPage(
        { limit: HISTORY_PAGE_SIZE, ...(this.cursor() === undefined ? {} : { cursor: this.cursor()! }) },
        { signal: ctrl.signal },
      );
      if (ctrl.signal.aborted) return;
      this.next = page.next_cursor;
      this.render(page.data);
    } catch (e) {
      if (ctrl.signal.aborted) return;
      const p = describeProblem(e);
      this.status.textContent = `History unavailable: ${p.title}. ${p.detail}`;
    }
  }

  private cursor(): string | undefined {
    return this.cursors[this.cursors.length - 1];
  }

  private render(jobs: readonly Job[]): void {
    this.stopTick?.();
    const n = this.cursors.length;
    this.status.textContent = jobs.length === 0 && n === 1 ? 'No jobs yet for this key.' : '';
    this.pageLabel.textContent = jobs.length === 0 ? '' : `Page ${n}`;
    this.newer.disabled = n <= 1;
    this.older.disabled = this.next === null;
    const thumbs: { at: number; cell: HTMLElement }[] = [];
    this.list.replaceChildren(
      ...jobs.map((job) => {
        const cell = h('div', { class: 'thumb' });
        const out = job.output;
        if (out?.url && !out.expired) {
          cell.append(
            h('img', { src: out.url, alt: '', loading: 'lazy', width: out.width, height: out.height }),
          );
          thumbs.push({ at: Date.parse(out.url_expires_at ?? ''), cell });
        } else {
          cell.append(h('span', { class: 'badge' }, out ? 'expired' : job.status));
        }
        const reuse = h('button', { type: 'button', 'aria-label': `Reuse: ${job.input.prompt}` }, 'Reuse');
        reuse.addEventListener('click', () => this.onReuse(job));
        const when = new Date(job.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        return h(
          'li',
          { class: 'job', 'data-id': job.id, 'data-status': job.status },
          cell,
          h(
            'div',
            { class: 'about' },
            h('p', { class: 'prompt' }, job.input.prompt),
            h(
              'p',
              { class: 'meta' },
              `${job.status} · ${job.input.aspect_ratio} · seed ${job.seed} · ${when}`,
            ),
            reuse,
          ),
        );
      }),
    );
    // Thumbnails turn into "expired" when their links do, while the page stays open.
    const expire = () => {
      for (const t of thumbs) {
        if (!(Date.now() < t.at) && t.cell.querySelector('img')) {
          t.cell.replaceChildren(h('span', { class: 'badge' }, 'expired'));
        }
      }
    };
    this.stopTick = thumbs.length > 0 ? everySecond(expire) : undefined;
    expire();
  }
}
