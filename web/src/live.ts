// The open project's live stream (GET /v1/projects/{project}/events), one per open project: every change made in
// another tab (or by the API) reaches this page, and the training job's progress comes through it too (jobEvents).
// When it drops: if the server does not answer, the banner takes over and the stream reopens when it is back; every
// (re)connection starts with `hello`, the project's whole state, from which the page redraws and re-attaches to a
// running job.
import { api, projectEventsUrl, ApiError, type JobSummary, type Project } from './api';
import { onServerBack, reachable, serverReachable, serverUnreachable } from './banner';

export interface LiveHandlers {
  /** (Re)connected: the project as the server has it now, with its running job. */
  hello(project: Project): void;
  /** Classes or photos changed. */
  changed(project: Project | null): void;
  jobStarted(job: JobSummary): void;
  /** A training saved a new model. */
  model(project: Project | null): void;
  /** The project was deleted. */
  removed(): void;
}

interface JobMessage {
  job: string;
  id: number;
  event: string;
  data: unknown;
}

const REOPEN_MS = 1500;

let project: string | null = null;
let handlers: LiveHandlers | null = null;
let source: EventSource | null = null;
let reopenTimer: number | undefined;
/** The events of the project's jobs since the stream (re)connected, replayed to a late jobEvents() caller. */
const jobLog = new Map<string, JobMessage[]>();
const jobChannels = new Map<string, Set<EventTarget>>();

onServerBack(() => {
  if (project && !source) open();
});

/** Follow `name` live (closing the stream of the project shown before). */
export function openLive(name: string, h: LiveHandlers): void {
  if (project === name && source) {
    handlers = h;
    return;
  }
  closeLive();
  project = name;
  handlers = h;
  open();
}

export function closeLive(): void {
  clearTimeout(reopenTimer);
  source?.close();
  source = null;
  project = null;
  handlers = null;
  jobLog.clear();
  jobChannels.clear();
}

/** The stream is open (a connection attempt or a live connection). */
export const liveOpen = () => source !== null;

function open(): void {
  if (!project) return;
  const name = project;
  const es = new EventSource(projectEventsUrl(name));
  source = es;
  const on = <T>(event: string, fn: (data: T) => void) =>
    es.addEventListener(event, (e) => {
      if (source === es) fn(JSON.parse((e as MessageEvent<string>).data) as T);
    });
  on('hello', (d: { project: Project }) => {
    serverReachable();
    // The server replays the running job's events after hello: what this page kept of them is now stale.
    jobLog.clear();
    jobChannels.clear();
    handlers?.hello(d.project);
  });
  on('classes', (d: { project: Project | null }) => handlers?.changed(d.project));
  on('photos', (d: { project: Project | null }) => handlers?.changed(d.project));
  on('job-started', (d: { job: JobSummary }) => handlers?.jobStarted(d.job));
  on('job', (d: JobMessage) => {
    let log = jobLog.get(d.job);
    if (!log) jobLog.set(d.job, (log = []));
    log.push(d);
    for (const ch of jobChannels.get(d.job) ?? []) deliver(ch, d);
  });
  on('model', (d: { project: Project | null }) => handlers?.model(d.project));
  on('project-removed', () => {
    const h = handlers;
    closeLive();
    h?.removed();
  });
  es.onerror = () => {
    if (source !== es) return;
    // One path for every drop: close it (no automatic reconnect loop), find out why, reopen when it makes sense.
    es.close();
    source = null;
    void (async () => {
      if (!(await reachable())) return serverUnreachable(); // onServerBack reopens it
      if (project !== name) return;
      try {
        await api.project(name);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          const h = handlers;
          closeLive();
          return h?.removed();
        }
      }
      clearTimeout(reopenTimer);
      reopenTimer = window.setTimeout(() => project === name && !source && open(), REOPEN_MS);
    })();
  };
}

function deliver(target: EventTarget, m: JobMessage): void {
  target.dispatchEvent(new MessageEvent(m.event, { data: JSON.stringify(m.data), lastEventId: String(m.id) }));
}

/**
 * A training job's events, from the project's stream, as an EventSource-like target (addEventListener(name, e =>
 * JSON.parse(e.data)), close()): the events so far first, then live ones. The job's own stream
 * (/v1/jobs/{id}/events) stays for API users; the page needs one connection per project.
 */
export function jobEvents(jobId: string): EventTarget & { close(): void } {
  const target = new EventTarget() as EventTarget & { close(): void };
  let set = jobChannels.get(jobId);
  if (!set) jobChannels.set(jobId, (set = new Set()));
  set.add(target);
  const channels = set;
  target.close = () => void channels.delete(target);
  // After the caller has added its listeners (it does so right after this returns).
  queueMicrotask(() => {
    if (!channels.has(target)) return;
    for (const m of jobLog.get(jobId) ?? []) deliver(target, m);
  });
  return target;
}
