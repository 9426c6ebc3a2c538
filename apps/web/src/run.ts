/**
 * One generation at a time: submit, then the job's event stream (queue position, stage, progress bar, live
 * previews), then the image at its exact size with its seed, revised prompt, timings and the link's expiry
 * countdown; cancel while it runs; a clear message when it does not give an image.
 */
import { errorFromJob, type Job, type JobEvent } from '@imagegen/client';

import { STAGES } from './catalog.js';
import type { Controls } from './controls.js';
import { byId, everySecond, h } from './dom.js';
import { formatBytes, formatCountdown, formatMs, formatTimings } from './format.js';
import { describeProblem, type Problem } from './messages.js';
import type { Clients } from './session.js';

export interface RunnerDeps {
  clients: () => Clients | null;
  controls: Controls;
  /** Called with every job that reached a terminal status (the history refreshes). */
  onFinished: (job: Job) => void;
  /** Called when there is no key to generate with. */
  needKey: () => void;
}

export class Runner {
  private readonly status = byId('run-status', HTMLParagraphElement);
  private readonly progress = byId('progress', HTMLProgressElement);
  private readonly alert = byId('run-alert', HTMLDivElement);
  private readonly preview = byId('preview', HTMLElement);
  private readonly previewImg = byId('preview-img', HTMLImageElement);
  private readonly result = byId('result', HTMLDivElement);
  private readonly generateButton = byId('generate', HTMLButtonElement);
  private readonly cancelButton = byId('cancel', HTMLButtonElement);
  private running = false;
  private jobId: string | null = null;
  private shownProgress = 0;
  private stopTimers: (() => void)[] = [];

  constructor(private readonly deps: RunnerDeps) {
    this.cancelButton.addEventListener('click', () => void this.cancel());
  }

  /** Generates one image from the form; does nothing while a generation runs. */
  async generate(): Promise<void> {
    if (this.running) return;
    const clients = this.deps.clients();
    if (!clients) {
      this.deps.needKey();
      return;
    }
    const { controls } = this.deps;
    let params;
    try {
      params = controls.read();
    } catch (e) {
      this.showProblem({ tone: 'error', title: 'Check the seed', detail: (e as Error).message });
      return;
    }
    if (params.prompt.trim() === '') {
      this.showProblem({
        tone: 'error',
        title: 'Write a prompt',
        detail: 'Describe the image first.',
        focus: 'prompt',
      });
      return;
    }
    this.reset();
    this.setRunning(true);
    this.say('Submitting…');
    this.progress.hidden = false;
    this.progress.removeAttribute('value'); // indeterminate until the job starts
    const tolerance = controls.toleranceLevel();
    try {
      const submitted = await clients.once.submit(params);
      this.jobId = submitted.id;
      this.cancelButton.hidden = false;
      this.onQueued(submitted.queue_position);
      let finished: Job | null =
        submitted.status === 'queued' || submitted.status === 'processing' ? null : submitted;
      if (!finished) {
        for await (const event of clients.api.events(submitted.id, { previews: true })) {
          if (event.type === 'completed') finished = event.data;
          else this.onEvent(event);
        }
      }
      if (!finished) throw new Error('the event stream ended without the job');
      this.finish(finished, tolerance);
      this.deps.onFinished(finished);
    } catch (e) {
      this.progress.hidden = true;
      this.say('');
      this.showProblem(describeProblem(e, tolerance));
    } finally {
      this.jobId = null;
      this.setRunning(false);
    }
  }

  /** Asks the service to cancel the running job; the event stream then brings it, canceled. */
  async cancel(): Promise<void> {
    const clients = this.deps.clients();
    const id = this.jobId;
    if (!clients || !id) return;
    this.cancelButton.disabled = true;
    this.say('Canceling…');
    try {
      await clients.api.cancel(id);
    } catch (e) {
      // 409: it had already finished; the stream shows how. Anything else: say so, the job goes on.
      if (!(e instanceof Error && 'status' in e && e.status === 409)) {
        this.showProblem(describeProblem(e));
        this.cancelButton.disabled = false;
      }
    }
  }

  private onQueued(position: number | null): void {
    this.say(position === null ? 'Queued' : `Queued: position ${position}`);
  }

  private onEvent(event: Exclude<JobEvent, { type: 'completed' }>): void {
    switch (event.type) {
      case 'queued':
        this.onQueued(event.data.queue_position);
        break;
      case 'started':
        this.progress.value = 0;
        this.say(event.data.attempt > 1 ? `Started (attempt ${event.data.attempt})` : 'Started');
        break;
      case 'progress': {
        const d = event.data;
        // Previews travel apart from the stored progress events and may arrive a step behind them:
        // the bar and the step line only move forward.
        if (d.progress >= this.shownProgress) {
          this.shownProgress = d.progress;
          this.progress.value = Math.min(1, Math.max(0, d.progress));
          const stage = STAGES[d.stage] ?? d.stage;
          this.say(d.step !== null && d.total !== null ? `${stage}: step ${d.step} of ${d.total}` : stage);
        }
        // Live previews (`?previews=1`): a small JPEG data URL of the image as it forms.
        if (d.preview?.startsWith('data:image/jpeg;base64,')) {
          this.previewImg.src = d.preview;
          this.preview.hidden = false;
        }
        break;
      }
    }
  }

  private finish(job: Job, tolerance: number): void {
    this.preview.hidden = true;
    const failed = errorFromJob(job);
    if (failed) {
      this.progress.hidden = true;
      this.say('');
      this.showProblem(describeProblem(failed, tolerance));
      return;
    }
    this.progress.value = 1;
    this.say(`Done in ${formatMs(Date.parse(job.completed_at ?? '') - Date.parse(job.created_at))}`);
    this.result.replaceChildren(this.renderResult(job));
    this.deps.controls.showSeed(job.seed);
  }

  private renderResult(job: Job): HTMLElement {
    const out = job.output!;
    const img = h('img', {
      src: out.url ?? '',
      alt: job.input.prompt,
      width: out.width,
      height: out.height,
      class: 'image',
    });
    const reuse = h('button', { type: 'button' }, 'Reuse seed');
    reuse.addEventListener('click', () => this.deps.controls.lockSeed(job.seed));
    const download = h('button', { type: 'button' }, 'Download');
    download.addEventListener('click', () => void this.download(job, download));
    const open = h('a', { href: out.url ?? '', target: '_blank', rel: 'noopener' }, 'Open image');
    const expiry = h('span', { class: 'expiry' });
    const expiresAt = Date.parse(out.url_expires_at ?? '');
    const tick = () => {
      const left = expiresAt - Date.now();
      if (Number.isNaN(expiresAt) || left <= 0) {
        expiry.textContent = 'expired (images live one hour)';
        download.disabled = true;
        open.remove();
        stop();
      } else {
        expiry.textContent = `expires in ${formatCountdown(left)}`;
      }
    };
    const stop = everySecond(tick);
    this.stopTimers.push(stop);
    tick();
    const row = (name: string, ...value: (Node | string | null)[]) =>
      h('div', {}, h('dt', {}, name), h('dd', {}, ...value));
    return h(
      'figure',
      { class: 'result', 'data-job': job.id },
      img,
      h(
        'figcaption',
        {},
        h(
          'dl',
          {},
          row(
            'Size',
            `${out.width} × ${out.height} px, ${out.format.toUpperCase()}, ${formatBytes(out.bytes)}`,
          ),
          row('Seed', h('span', { class: 'seed-value' }, String(job.seed)), ' ', reuse),
          out.revised_prompt ? row('Revised prompt', out.revised_prompt) : null,
          row(
            'Timings',
            job.cached
              ? `reused: a copy of an identical earlier request’s image · ${formatTimings(job.timings_ms)}`
              : formatTimings(job.timings_ms),
          ),
          row('Link', expiry, ' ', download, ' ', open),
        ),
      ),
    );
  }

  /** Saves the image: fetched from the store (its CORS must allow this page) into a file download. */
  private async download(job: Job, button: HTMLButtonElement): Promise<void> {
    const clients = this.deps.clients();
    if (!clients) return;
    button.disabled = true;
    try {
      const blob = await clients.api.download(job);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `${job.id}.${job.output?.format === 'png' ? 'png' : 'jpg'}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      const p = describeProblem(e);
      this.showProblem({
        tone: 'error',
        title: 'Download failed',
        detail: `${p.detail} Use "Open image" and save it from there.`,
      });
    } finally {
      button.disabled = false;
    }
  }

  private showProblem(p: Problem): void {
    const parts: Node[] = [h('p', { class: 'title' }, p.title), h('p', {}, p.detail)];
    if (p.retryAfterS !== undefined) {
      const until = Date.now() + p.retryAfterS * 1000;
      const line = h('p', { class: 'retry' });
      const tick = () => {
        const left = until - Date.now();
        line.textContent = left > 0 ? `Try again in ${Math.ceil(left / 1000)} s.` : 'You can try again now.';
        if (left <= 0) stop();
      };
      const stop = everySecond(tick);
      this.stopTimers.push(stop);
      tick();
      parts.push(line);
    }
    this.alert.replaceChildren(h('div', { class: `problem ${p.tone}`, 'data-title': p.title }, ...parts));
    if (p.focus === 'prompt') this.deps.controls.prompt.focus();
    if (p.focus === 'key') byId('api-key', HTMLInputElement).focus();
  }

  private reset(): void {
    this.shownProgress = 0;
    for (const stop of this.stopTimers.splice(0)) stop();
    this.alert.replaceChildren();
    this.result.replaceChildren();
    this.preview.hidden = true;
    this.previewImg.removeAttribute('src');
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private setRunning(running: boolean): void {
    this.running = running;
    this.generateButton.disabled = running;
    this.cancelButton.hidden = !running || this.jobId === null;
    this.cancelButton.disabled = false;
  }
}
