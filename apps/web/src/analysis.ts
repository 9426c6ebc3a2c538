/**
 * Live prompt analysis: `POST /v1/prompts/analyze` a moment after the user stops typing (or moves the
 * safety tolerance), showing the lint warnings (`outside_model_domain` included), what a submit would do
 * with the prompt, and how the prompt splits into the vendor's template parts.
 */
import type { PromptAnalysis } from '@imagegen/client';

import { categoryText, WARNING_TITLES } from './catalog.js';
import { byId, h } from './dom.js';
import { describeProblem } from './messages.js';
import type { Clients } from './session.js';

/** Quiet time after the last keystroke before the prompt is analyzed. */
const DEBOUNCE_MS = 350;

export class LiveAnalysis {
  private readonly box = byId('analysis', HTMLDivElement);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: AbortController | undefined;

  constructor(
    private readonly clients: () => Clients | null,
    private readonly input: () => { prompt: string; tolerance: number },
  ) {}

  /** Analyze again after the debounce delay (each call restarts it and aborts a running request). */
  schedule(): void {
    clearTimeout(this.timer);
    this.inFlight?.abort();
    this.timer = setTimeout(() => void this.run(), DEBOUNCE_MS);
  }

  private async run(): Promise<void> {
    const { prompt, tolerance } = this.input();
    const clients = this.clients();
    if (!clients || prompt.trim() === '') {
      this.box.replaceChildren();
      return;
    }
    const ctrl = new AbortController();
    this.inFlight = ctrl;
    try {
      const a = await clients.once.analyze({ prompt, safety_tolerance: tolerance }, { signal: ctrl.signal });
      if (!ctrl.signal.aborted) this.render(a);
    } catch (e) {
      if (ctrl.signal.aborted) return;
      const p = describeProblem(e, tolerance);
      this.box.replaceChildren(h('p', { class: 'note' }, `Analysis unavailable: ${p.title}. ${p.detail}`));
    }
  }

  private render(a: PromptAnalysis): void {
    const parts: Node[] = [];
    if (!a.moderation.allowed) {
      parts.push(
        h(
          'p',
          { class: 'verdict refused', 'data-category': a.moderation.category ?? '' },
          `Would be refused at safety tolerance ${a.moderation.safety_tolerance}: ${categoryText(a.moderation.category)}.`,
        ),
      );
    }
    if (a.warnings.length > 0) {
      parts.push(
        h(
          'ul',
          { class: 'warnings', 'aria-label': 'Prompt warnings' },
          ...a.warnings.map((w) =>
            h(
              'li',
              { 'data-code': w.code },
              h('strong', {}, WARNING_TITLES[w.code] ?? w.code),
              ' ',
              w.message,
            ),
          ),
        ),
      );
    }
    const found = Object.entries(a.analysis).filter(
      ([k, v]) => k !== 'missing' && Array.isArray(v) && v.length > 0,
    );
    const missing = a.analysis['missing'];
    if (found.length > 0 || (Array.isArray(missing) && missing.length > 0)) {
      parts.push(
        h(
          'p',
          { class: 'parts' },
          found.map(([k, v]) => `${k}: ${(v as unknown[]).join(', ')}`).join(' · '),
          Array.isArray(missing) && missing.length > 0
            ? h('span', { class: 'missing' }, ` Could add: ${missing.join(', ')}.`)
            : null,
        ),
      );
    }
    if (parts.length === 0) parts.push(h('p', { class: 'note ok' }, 'No warnings.'));
    this.box.replaceChildren(...parts);
  }
}
