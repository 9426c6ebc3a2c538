/** A one-line progress bar on a terminal; silent when the stream is not a TTY. */
export class ProgressBar {
  private active = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  get enabled(): boolean {
    return this.stream.isTTY;
  }

  /** Steps done of a total: `label [#####.....] 12/30`. */
  update(done: number, total: number, label: string): void {
    this.render(total > 0 ? done / total : 0, label, `${done}/${total}`);
  }

  /** A fraction (0–1) with a label and what to print after the bar. */
  render(fraction: number, label: string, detail: string): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
    this.stream.write(
      `\r\x1b[K${label.padEnd(12)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${detail}`,
    );
    this.active = true;
  }

  done(): void {
    if (this.active) this.stream.write('\r\x1b[K');
    this.active = false;
  }
}
