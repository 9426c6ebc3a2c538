/** The form's parameter controls: the vendor's parameters, read into a request and set from a past job. */
import type { AspectRatio, GenerateParams, JobInput, OutputFormat } from '@imagegen/client';

import { ASPECTS, aspectLabel, DEFAULT_ASPECT, TOLERANCE_LEVELS, TOLERANCE_NOTE } from './catalog.js';
import { byId, h } from './dom.js';

const MAX_SEED = 4_294_967_295;

export class Controls {
  readonly prompt = byId('prompt', HTMLTextAreaElement);
  readonly aspect = byId('aspect-ratio', HTMLSelectElement);
  readonly format = byId('output-format', HTMLSelectElement);
  readonly seed = byId('seed', HTMLInputElement);
  readonly upsampling = byId('upsampling', HTMLInputElement);
  readonly tolerance = byId('tolerance', HTMLInputElement);
  private readonly toleranceText = byId('tolerance-text', HTMLOutputElement);
  private readonly count = byId('prompt-count', HTMLSpanElement);
  private readonly modes = [...document.querySelectorAll<HTMLInputElement>('input[name="seed-mode"]')];

  constructor() {
    for (const a of ASPECTS) {
      this.aspect.append(
        h('option', { value: a.ratio, selected: a.ratio === DEFAULT_ASPECT, title: a.use }, aspectLabel(a)),
      );
    }
    this.tolerance.addEventListener('input', () => this.describeTolerance());
    this.prompt.addEventListener('input', () => (this.count.textContent = String(this.prompt.value.length)));
    for (const m of this.modes) m.addEventListener('change', () => this.seedModeChanged());
    // Typing a seed means "use this one".
    this.seed.addEventListener('input', () => this.setMode('lock'));
    this.describeTolerance();
    this.seedModeChanged();
  }

  /** The request the form describes; `seed` only when it is locked. Throws a message for a bad seed. */
  read(): GenerateParams {
    const params: GenerateParams = {
      prompt: this.prompt.value,
      aspect_ratio: this.aspect.value as AspectRatio,
      output_format: this.format.value as OutputFormat,
      prompt_upsampling: this.upsampling.checked,
      safety_tolerance: this.toleranceLevel(),
    };
    if (this.mode() === 'lock') {
      const seed = Number(this.seed.value);
      if (this.seed.value.trim() === '' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
        throw new RangeError(`the seed must be a whole number from 0 to ${MAX_SEED} (or choose Random)`);
      }
      params.seed = seed;
    }
    return params;
  }

  toleranceLevel(): number {
    return Number(this.tolerance.value);
  }

  /** Sets the form from a past job: prompt, parameters and its seed, locked. */
  apply(input: JobInput): void {
    this.prompt.value = input.prompt;
    this.prompt.dispatchEvent(new Event('input'));
    this.aspect.value = input.aspect_ratio;
    this.format.value = input.output_format;
    this.upsampling.checked = input.prompt_upsampling;
    this.tolerance.value = String(input.safety_tolerance);
    this.describeTolerance();
    this.lockSeed(input.seed);
  }

  /** "Reuse seed": the next generation uses this seed. */
  lockSeed(seed: number): void {
    this.seed.value = String(seed);
    this.setMode('lock');
  }

  /** After a random-seed run, shows the seed it drew (still random for the next run). */
  showSeed(seed: number): void {
    if (this.mode() === 'random') this.seed.value = String(seed);
  }

  private mode(): 'random' | 'lock' {
    return this.modes.find((m) => m.checked)?.value === 'lock' ? 'lock' : 'random';
  }

  private setMode(mode: 'random' | 'lock'): void {
    for (const m of this.modes) m.checked = m.value === mode;
    this.seedModeChanged();
  }

  private seedModeChanged(): void {
    const random = this.mode() === 'random';
    this.seed.placeholder = random ? 'random' : 'seed';
    this.seed.classList.toggle('random', random);
  }

  private describeTolerance(): void {
    this.toleranceText.textContent = `${TOLERANCE_LEVELS[this.toleranceLevel()] ?? ''} ${TOLERANCE_NOTE}`;
  }
}
