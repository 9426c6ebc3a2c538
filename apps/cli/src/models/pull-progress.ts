import { ProgressBar } from '../progress.js';
import type { PullProgress } from './pull.js';
import { formatBytes } from './units.js';

/**
 * How a pull reports itself: on a terminal, one live bar per file with bytes and rate (redrawn at most
 * ten times a second); elsewhere (logs, CI) one line per file once it is in place.
 */
export function pullProgress(stream: NodeJS.WriteStream, log: (line: string) => void): PullProgress {
  const bar = new ProgressBar(stream);
  let current = { path: '', size: 0, have: 0, received: 0, started: 0, drawn: 0 };
  const draw = () => {
    const { path, size, have, received, started } = current;
    const seconds = Math.max((performance.now() - started) / 1000, 1e-3);
    const done = have + received;
    bar.render(
      size > 0 ? done / size : 1,
      'pulling',
      `${path} ${formatBytes(done)}/${formatBytes(size)} ${formatBytes(received / seconds)}/s`,
    );
  };
  return {
    file: (path, size, have) => {
      current = { path, size, have, received: 0, started: performance.now(), drawn: 0 };
      draw();
    },
    bytes: (n) => {
      current.received += n;
      const now = performance.now();
      if (now - current.drawn >= 100) {
        current.drawn = now;
        draw();
      }
    },
    done: (path, size, how) => {
      bar.done();
      const seconds = (performance.now() - current.started) / 1000;
      const detail =
        how === 'present'
          ? 'already here, hash checked'
          : `${how}${how === 'resumed' ? ` from ${formatBytes(current.have)}` : ''} in ${seconds.toFixed(1)} s` +
            ` (${formatBytes(current.received / Math.max(seconds, 1e-3))}/s), hash checked`;
      log(`${path} ${formatBytes(size)}: ${detail}`);
    },
  };
}
