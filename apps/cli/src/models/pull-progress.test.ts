import { describe, expect, it } from 'vitest';

import { pullProgress } from './pull-progress.js';

function stream(isTTY: boolean) {
  const written: string[] = [];
  const s = { isTTY, write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  return { s, written };
}

describe('pull progress', () => {
  it('on a terminal draws a bar with the file, bytes so far of its size and the rate, then a line per file', () => {
    const { s, written } = stream(true);
    const lines: string[] = [];
    const p = pullProgress(s, (l) => lines.push(l));
    p.file('unet/model.onnx', 2_000_000, 500_000);
    p.bytes(500_000);
    p.done('unet/model.onnx', 2_000_000, 'resumed');
    // Each draw first returns to the line's start and erases it (CR, ESC [K).
    expect(written[0]!.startsWith('\r\u001b[K')).toBe(true);
    expect(written[0]!.slice(4)).toMatch(
      /^pulling +\[#{8}\.{22}\] unet\/model\.onnx 500 kB\/2\.00 MB [\d.]+ .?B\/s$/,
    );
    expect(written.at(-1)).toBe('\r\x1b[K');
    expect(lines).toEqual([
      expect.stringMatching(
        /^unet\/model\.onnx 2\.00 MB: resumed from 500 kB in [\d.]+ s \([\d.]+ .?B\/s\), hash checked$/,
      ),
    ]);
  });

  it('elsewhere writes no bar, only the line per file', () => {
    const { s, written } = stream(false);
    const lines: string[] = [];
    const p = pullProgress(s, (l) => lines.push(l));
    p.file('model_index.json', 540, 0);
    p.bytes(540);
    p.done('model_index.json', 540, 'downloaded');
    p.done('tokenizer/vocab.json', 8200, 'present');
    expect(written).toEqual([]);
    expect(lines[0]).toMatch(/^model_index\.json 540 B: downloaded in [\d.]+ s/);
    expect(lines[1]).toBe('tokenizer/vocab.json 8.20 kB: already here, hash checked');
  });
});
