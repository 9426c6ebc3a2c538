/**
 * The playground's entry. The first thing it does is move a `#key=…` fragment into sessionStorage and out
 * of the address bar; then it wires the key form, the prompt's live analysis, the generation and the
 * history. Everything talks to the service through @imagegen/client, on this page's own origin.
 */
import './style.css';

import type { Job } from '@imagegen/client';

import { LiveAnalysis } from './analysis.js';
import { Controls } from './controls.js';
import { byId } from './dom.js';
import { keyHint } from './format.js';
import { History } from './history.js';
import { Runner } from './run.js';
import { clientsFor, forgetKey, saveKey, storedKey, takeKeyFromAddress, type Clients } from './session.js';

takeKeyFromAddress();

let clients: Clients | null = null;
const keyInput = byId('api-key', HTMLInputElement);
const keyStatus = byId('key-status', HTMLParagraphElement);
const forgetButton = byId('key-forget', HTMLButtonElement);
const controls = new Controls();
const analysis = new LiveAnalysis(
  () => clients,
  () => ({ prompt: controls.prompt.value, tolerance: controls.toleranceLevel() }),
);
const reuse = (job: Job) => {
  controls.apply(job.input);
  analysis.schedule();
  controls.prompt.focus();
};
const history = new History(() => clients, reuse);
const runner = new Runner({
  clients: () => clients,
  controls,
  onFinished: () => void history.refresh(),
  needKey: () => {
    keyStatus.textContent = 'Paste an API key first (npm start prints a link that brings one).';
    keyInput.focus();
  },
});

function useKey(key: string | null): void {
  clients = key ? clientsFor(key) : null;
  keyInput.value = key ?? '';
  forgetButton.hidden = !key;
  keyStatus.textContent = key
    ? `Using ${keyHint(key)} (kept in this tab's session storage only).`
    : 'Paste an API key to start.';
  if (key) {
    void history.refresh();
    analysis.schedule();
  } else history.clear();
}

byId('key-form', HTMLFormElement).addEventListener('submit', (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  if (key) saveKey(key);
  else forgetKey();
  useKey(key || null);
});
forgetButton.addEventListener('click', () => {
  forgetKey();
  useKey(null);
  keyInput.focus();
});

const form = byId('generate-form', HTMLFormElement);
form.addEventListener('submit', (e) => {
  e.preventDefault();
  void runner.generate();
});
// Ctrl+Enter (Cmd+Enter on a Mac) generates from anywhere on the page.
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.repeat) {
    e.preventDefault();
    void runner.generate();
  }
});
controls.prompt.addEventListener('input', () => analysis.schedule());
controls.tolerance.addEventListener('change', () => analysis.schedule());

useKey(storedKey());
