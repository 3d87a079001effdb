// The training job `tl serve --queue` puts on the queue: train one of the server's projects on a `tl worker`. Workers
// share the server's file system: the job names the server's projects folder and the project, the worker trains on
// its images folder and saves the bundle into its bundles folder, where the server loads it. Plain JSON (BullMQ keeps
// data, progress and return values as JSON in Redis).

/** BullMQ queue name: every key of it in Redis starts with `tl:tl-train:` (QUEUE_PREFIX). */
export const TRAIN_QUEUE = 'tl-train';
/** Bumped when the job's fields change: a worker refuses a job of another version instead of misreading it. */
export const TRAIN_JOB_VERSION = 1;

export interface TrainJobData {
  v: number;
  /** The server's projects folder, an absolute path that must be the same folder on every worker. */
  projectsDir: string;
  project: string;
  /** The validated training request (the option table's API keys, the head parsed): what train-child.ts takes. */
  request: unknown;
  /** Set by the server when the page cancels: the worker stops the run at its next check. */
  cancel?: boolean;
}

/** What a training run tells the server, in order: exactly what train-child.ts sends over IPC, minus its end. */
export type TrainJobMessage =
  | { type: 'event'; event: string; data: unknown }
  | { type: 'saving' }
  /** The bundle is saved under <project>/bundles/<stamp> (before the 'done' event): the server loads it. */
  | { type: 'trained'; stamp: string };

/** One BullMQ progress update of a training job. */
export interface TrainJobProgress {
  /** host:pid of the worker running it (a retried job's messages name the new worker). */
  worker: string;
  message: TrainJobMessage;
}

export interface TrainJobResult {
  worker: string;
  state: 'done' | 'failed' | 'cancelled';
  error: string | null;
  /** The saved bundle's stamp (done). */
  bundle: string | null;
}

/** The BullMQ job of a server job: a server restarted mid-training finds the job it left by its own job id. */
export function trainJobId(serverJobId: string): string {
  return `train-${serverJobId}`;
}
