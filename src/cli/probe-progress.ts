import type { ExperimentRecord, ProbeProgress } from '../probe/index.js';
import { experimentLine, human } from '../probe/report/text.js';

/**
 * The probe's live display. On a TTY: a block redrawn four times a second (what runs, the
 * elapsed time, what is known so far). Otherwise: one plain line per finding.
 */
export class ProbeProgressView {
  private readonly records = new Map<string, ExperimentRecord>();
  private readonly started = performance.now();
  private maxWaitMs = 0;
  /** Characters of each line of the block last drawn. */
  private drawn: number[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly reported = new Set<string>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
    private readonly label: string,
  ) {}

  /** The probe's progress callback. */
  readonly onProgress = (p: ProbeProgress): void => {
    if (p.type === 'start') {
      this.maxWaitMs = p.maxWaitMs;
      if (!this.tty) {
        this.out.write(
          `${this.label}probing ${p.target}: ${p.experiments.length} experiments at once, up to ${human(p.maxWaitMs)}\n`,
        );
      } else this.timer ??= setInterval(() => this.draw(), 250);
      return;
    }
    if (p.type === 'finding') return;
    this.records.set(p.record.name, p.record);
    const r = p.record;
    if (
      !this.tty &&
      r.outcome === 'cut' &&
      !this.reported.has(r.name) &&
      !r.name.startsWith('marker-')
    ) {
      this.reported.add(r.name);
      this.out.write(
        `${this.label}${human(performance.now() - this.started)}: ${experimentLine(r)}\n`,
      );
    }
  };

  private draw(): void {
    const all = [...this.records.values()];
    const running = all.filter((r) => r.outcome === 'running').map((r) => r.name);
    const cut = all.filter((r) => r.outcome === 'cut' && !r.name.startsWith('marker-'));
    const size = this.out as { columns?: number; rows?: number };
    // One row per line, never a wrapped one: the redraw moves up exactly the rows it drew.
    const width = Math.max(20, (size.columns || 80) - 1);
    const height = Math.max(3, (size.rows || 24) - 1);
    let lines = [
      `${this.label}probing: ${human(performance.now() - this.started)} of up to ${human(this.maxWaitMs)}`,
      `  running (${running.length}): ${running.filter((n) => !n.startsWith('marker-')).join(', ')}${running.some((n) => n.startsWith('marker-')) ? ', marker ladder' : ''}`,
      ...cut.map((r) => `  known: ${experimentLine(r)}`),
    ];
    if (lines.length > height) {
      lines = [...lines.slice(0, height - 1), `  ... and ${lines.length - height + 1} more known`];
    }
    lines = lines.map((line) => fitLine(line, width));
    this.clear();
    this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.map((line) => [...line].length);
  }

  /** Moves up over the block last drawn and erases it to the end of the screen. */
  private clear(): void {
    if (this.drawn.length === 0) return;
    // A terminal made narrower since the draw has rewrapped those lines onto more rows.
    const columns = (this.out as { columns?: number }).columns || 80;
    const rows = this.drawn.reduce((n, len) => n + Math.max(1, Math.ceil(len / columns)), 0);
    this.out.write(`\r\x1b[${rows}A\x1b[J`);
    this.drawn = [];
  }

  /** Stops redrawing and clears the block. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}

/** Cuts a line to `width` characters (an ellipsis marks the cut). */
export function fitLine(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, width - 1).join('')}…`;
}
