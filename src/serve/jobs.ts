// Training jobs: one AbortController each, an event log kept in memory (replayed to late or reconnecting
// Server-Sent-Events clients by id), and listeners for live streaming.
import { randomBytes } from 'node:crypto';

export type JobState = 'running' | 'cancelling' | 'done' | 'failed' | 'cancelled';

export interface JobEvent {
  id: number;
  event: string;
  data: unknown;
}

export interface JobSummary {
  id: string;
  project: string;
  state: JobState;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  bundle: string | null;
  lastEvents: Record<string, unknown>;
}

const FINISHED: JobState[] = ['done', 'failed', 'cancelled'];

export class Job {
  readonly controller = new AbortController();
  readonly startedAt = new Date();
  state: JobState = 'running';
  finishedAt: Date | null = null;
  error: string | null = null;
  bundle: string | null = null;
  private isSaving = false;
  /** A client asked to cancel (a job stopped by the server closing ends cancelled without it). */
  cancelRequested = false;
  /** Told when the job starts saving. */
  onSaving?: () => void;
  /**
   * Asked before the job saves (a training child process asks the server, where a cancel may already have been
   * answered 202): false means the job was cancelled first and must save nothing.
   */
  confirmSaving?: () => Promise<boolean>;
  readonly events: JobEvent[] = [];
  private listeners = new Set<(e: JobEvent) => void>();
  private lastByType = new Map<string, JobEvent>();
  private throttled = new Map<string, { at: number; pending?: JobEvent; timer?: NodeJS.Timeout }>();

  constructor(
    readonly project: string,
    /** A job resumed after a restart keeps the id it was started with. */
    readonly id: string = randomBytes(8).toString('hex'),
  ) {}

  /** Training is over and its bundle is being saved: a cancel can no longer stop it (the job will end done). */
  get saving(): boolean {
    return this.isSaving;
  }
  set saving(v: boolean) {
    this.isSaving = v;
    if (v) this.onSaving?.();
  }

  /** Start saving unless the job was cancelled first (here or, for a child process, on the server): false = cancelled. */
  async startSaving(): Promise<boolean> {
    if (this.controller.signal.aborted) return false;
    if (this.confirmSaving && !(await this.confirmSaving())) return false;
    this.saving = true;
    return true;
  }

  get finished(): boolean {
    return FINISHED.includes(this.state);
  }

  get lastId(): number {
    return this.events.length ? this.events[this.events.length - 1].id : -1;
  }

  emit(event: string, data: unknown): void {
    const e: JobEvent = { id: this.events.length, event, data };
    this.events.push(e);
    this.lastByType.set(event, e);
    for (const l of this.listeners) l(e);
  }

  /** Emit at most every `ms` per key; the last value of a burst is always delivered. */
  emitThrottled(event: string, key: string, data: unknown, ms = 100): void {
    const t = this.throttled.get(key) ?? { at: 0 };
    this.throttled.set(key, t);
    const now = Date.now();
    if (now - t.at >= ms) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = undefined;
      t.at = now;
      this.emit(event, data);
      return;
    }
    t.pending = { id: -1, event, data };
    t.timer ??= setTimeout(
      () => {
        t.timer = undefined;
        t.at = Date.now();
        if (t.pending) this.emit(t.pending.event, t.pending.data);
        t.pending = undefined;
      },
      ms - (now - t.at),
    );
  }

  /** Deliver a pending throttled event now (before a phase ends). */
  flush(key: string): void {
    const t = this.throttled.get(key);
    if (!t?.timer) return;
    clearTimeout(t.timer);
    t.timer = undefined;
    if (t.pending) this.emit(t.pending.event, t.pending.data);
    t.pending = undefined;
  }

  finish(state: 'done' | 'failed' | 'cancelled', extra: { error?: string; bundle?: string } = {}): void {
    for (const key of this.throttled.keys()) this.flush(key);
    this.state = state;
    this.finishedAt = new Date();
    this.error = extra.error ?? null;
    this.bundle = extra.bundle ?? null;
    this.emit('end', { state, error: this.error, bundle: this.bundle });
    this.listeners.clear();
  }

  subscribe(fn: (e: JobEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  summary(): JobSummary {
    return {
      id: this.id,
      project: this.project,
      state: this.state,
      startedAt: this.startedAt.toISOString(),
      finishedAt: this.finishedAt?.toISOString() ?? null,
      error: this.error,
      bundle: this.bundle,
      lastEvents: Object.fromEntries([...this.lastByType].map(([k, e]) => [k, e.data])),
    };
  }
}

export class JobManager {
  private jobs = new Map<string, Job>();
  private static readonly KEEP_FINISHED = 50;

  create(project: string, id?: string): Job {
    const job = new Job(project, id);
    this.jobs.set(job.id, job);
    // Forget the oldest finished jobs beyond a bound (their bundles stay on disk).
    const finished = [...this.jobs.values()].filter((j) => j.finished);
    for (const j of finished.slice(0, Math.max(0, finished.length - JobManager.KEEP_FINISHED))) this.jobs.delete(j.id);
    return job;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  active(project: string): Job | undefined {
    return [...this.jobs.values()].find((j) => j.project === project && !j.finished);
  }

  forProject(project: string): Job[] {
    return [...this.jobs.values()].filter((j) => j.project === project);
  }

  all(): Job[] {
    return [...this.jobs.values()];
  }

  /** Cancel a running job; a finished job, or one saving its bundle, is returned as it is (its state says why). */
  cancel(id: string): Job | undefined {
    const job = this.jobs.get(id);
    if (job && job.state === 'running' && !job.saving) {
      job.state = 'cancelling';
      job.cancelRequested = true;
      job.emit('state', { state: 'cancelling' });
      job.controller.abort();
    }
    return job;
  }
}
