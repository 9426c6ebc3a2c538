/** A one-line progress bar on a terminal; silent when the stream is not a TTY. */
export class ProgressBar {
  private active = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(done: number, total: number, label: string): void {
    if (!this.stream.isTTY) return;
    const width = 30;
    const filled = Math.round((done / total) * width);
    this.stream.write(
      `\r${label.padEnd(12)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
    );
    this.active = true;
  }

  done(): void {
    if (this.active) this.stream.write('\r\x1b[K');
    this.active = false;
  }
}
