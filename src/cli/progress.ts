// Progress display: a bar with rate and ETA on a terminal, plain periodic lines otherwise (CI logs, pipes).
import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';

// The bar library loads only when a terminal shows a bar (a sync require keeps progressReporter synchronous).
const requireCjs = createRequire(import.meta.url);

export interface ProgressReporter {
  update(done: number, extra?: string): void;
  stop(): void;
}

export function progressReporter(
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
  /** Not a terminal: at most one line per this many ms (and one at the end). */
  lineEveryMs = 2000,
  /** When the work began (a reporter created at its first update would otherwise time that update as instant). */
  start = Date.now(),
): ProgressReporter {
  if (stream.isTTY) {
    const cliProgress = requireCjs('cli-progress') as typeof CliProgress;
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} |{bar}| {value}/{total} {rate} img/s ETA {eta_formatted} {extra}`,
        stream,
        hideCursor: true,
        etaBuffer: 50,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.0', extra: '' });
    return {
      update(done, extra = '') {
        const rate = done / Math.max(0.001, (Date.now() - start) / 1000);
        bar.update(done, { rate: rate.toFixed(1), extra });
      },
      stop() {
        bar.stop();
      },
    };
  }
  // Not a terminal: one line at most every lineEveryMs (and at the end), so logs stay readable.
  let lastPrint = 0;
  let lastDone = -1;
  const print = (done: number, extra: string) => {
    const secs = (Date.now() - start) / 1000;
    const rate = done / Math.max(0.001, secs);
    const eta = rate > 0 ? (total - done) / rate : 0;
    stream.write(
      `${label}: ${done}/${total} (${((100 * done) / Math.max(1, total)).toFixed(0)}%) ${rate.toFixed(1)} img/s ETA ${eta.toFixed(0)}s ${extra}\n`,
    );
    lastPrint = Date.now();
    lastDone = done;
  };
  return {
    update(done, extra = '') {
      if (Date.now() - lastPrint >= lineEveryMs || (done === total && lastDone !== done)) print(done, extra);
    },
    stop() {},
  };
}
