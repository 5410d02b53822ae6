/**
 * Pull progress on the terminal: on a TTY one redrawn bar per layer (`pulling 1a2b3c4d5e6f  42% ▕████  ▏ 12 MB/29 MB`),
 * otherwise one plain line per status change (no redraws in logs).
 */
import { humanBytes } from './args.ts';

export interface ProgressLine {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export class ProgressPrinter {
  private lastStatus = '';
  private barOpen = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = !!process.stderr.isTTY,
  ) {}

  update(p: ProgressLine): void {
    if (this.tty && p.total) {
      const frac = Math.min(1, (p.completed ?? 0) / p.total);
      const width = 30;
      const full = Math.round(frac * width);
      const bar = `${p.status}  ${String(Math.round(frac * 100)).padStart(3)}% ▕${'█'.repeat(full)}${' '.repeat(width - full)}▏ ${humanBytes(p.completed ?? 0)}/${humanBytes(p.total)}`;
      if (this.barOpen && p.status !== this.lastStatus) this.out.write('\n');
      this.out.write(`\r${bar}\x1b[K`);
      this.barOpen = true;
      this.lastStatus = p.status;
      return;
    }
    if (this.barOpen) this.out.write('\n');
    this.barOpen = false;
    if (p.status === this.lastStatus) return;
    this.lastStatus = p.status;
    this.out.write(p.total ? `${p.status} ${humanBytes(p.total)}\n` : `${p.status}\n`);
  }

  end(): void {
    if (this.barOpen) this.out.write('\n');
    this.barOpen = false;
  }
}
