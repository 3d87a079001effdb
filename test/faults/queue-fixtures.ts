// A real redis-server on a free port in a temp dir (AOF on), `tl worker` child processes of the built CLI, and reading
// a feature store back: shared by the queue tests (test/integration/queue-*.test.ts, test/faults/queue-*.test.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import Database from 'better-sqlite3';
import { collect, sleep, spawnCli, type CliOptions, type CliResult } from '../helpers.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });
}

export class RedisServer {
  private child?: ChildProcess;
  log = '';
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(dir: string): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), dir);
    await r.startProcess();
    return r;
  }

  /** Start (again) on the same port and folder: with the AOF, the queue's jobs come back. */
  async startProcess(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '']; // no RDB
    this.child = spawn(REDIS_SERVER, [...args, '--appendonly', 'yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.log += d));
    this.child.stderr!.on('data', (d) => (this.log += d));
    for (let i = 0; i < 100; i++) {
      if (await answers(this.port)) return;
      await sleep(100);
    }
    throw new Error(`redis-server did not start on ${this.port}:\n${this.log}`);
  }

  /** SIGTERM: Redis flushes its AOF and exits (a restart, as an operator does it). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  }
}

/** A `tl worker` child process, ready (it printed its "takes jobs" line). */
export class WorkerProcess {
  /** Workers still running: a test that fails half-way leaves none behind (killAll in `after`). */
  private static live = new Set<WorkerProcess>();
  readonly done: Promise<CliResult>;
  private constructor(readonly child: ChildProcess) {
    this.done = collect(child, 600_000);
    WorkerProcess.live.add(this);
    void this.done.finally(() => WorkerProcess.live.delete(this)).catch(() => {});
  }

  static async killAll(): Promise<void> {
    await Promise.all([...WorkerProcess.live].map((w) => w.kill().catch(() => undefined)));
  }

  static async start(url: string, opts: CliOptions, extraArgs: string[] = []): Promise<WorkerProcess> {
    const child = spawnCli(['worker', '--queue', url, '--lock-ms', '2000', ...extraArgs], opts);
    const w = new WorkerProcess(child);
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/takes jobs from/.test(seen)) resolve();
      });
      void w.done.then((r) => reject(new Error(`worker exited before it was ready: ${r.stderr}`)));
    });
    return w;
  }

  /** SIGTERM: finish the job in hand, exit; its output. */
  async stop(): Promise<CliResult> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.done;
  }

  kill(): Promise<CliResult> {
    this.child.kill('SIGKILL');
    return this.done;
  }
}

/** Images a stopped worker says it embedded ("stopped: N images embedded in J jobs, R refused"). */
export function imagesEmbeddedBy(r: CliResult): number {
  const m = /stopped: (\d+) images embedded in \d+ jobs/.exec(r.stderr);
  if (!m) throw new Error(`no worker summary in: ${r.stderr}`);
  return Number(m[1]);
}

/** content hash → vector bytes of one store (it holds one model in these tests). */
export function storeVectors(path: string): Map<string, Buffer> {
  if (!existsSync(path)) return new Map();
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT content_hash AS h, vector AS v FROM features').all() as { h: string; v: Buffer }[];
    return new Map(rows.map((r) => [r.h, r.v]));
  } finally {
    db.close();
  }
}

export function storeRowCount(path: string): number {
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM features').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created yet
  }
}

/** Wait until a store holds at least n rows (the run is under way), polling. */
export async function waitForRows(path: string, n: number, timeoutMs = 120_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const count = storeRowCount(path);
    if (count >= n) return count;
    if (Date.now() > end) throw new Error(`store ${path} still holds ${count} rows, waited for ${n}`);
    await sleep(100);
  }
}

/** Both stores hold the same hashes with byte-identical vectors. */
export function sameVectors(
  a: Map<string, Buffer>,
  b: Map<string, Buffer>,
): { same: number; differ: number; missing: number } {
  let same = 0;
  let differ = 0;
  let missing = 0;
  for (const [h, v] of b) {
    const w = a.get(h);
    if (!w) missing++;
    else if (w.equals(v)) same++;
    else differ++;
  }
  return { same, differ, missing: missing + Math.max(0, a.size - b.size) };
}
