// A training job's request, kept in its project while the job runs (<project>/job.json), so a server that was
// killed or stopped mid-training starts the same job again when it restarts: a fine-tuning run then resumes from its
// last finished epoch's checkpoint (the checkpoint is keyed by the run's settings and photos, finetune/checkpoint.ts),
// a head job trains again from its cached features. The file goes when the job ends done, failed or cancelled.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './projects.js';

export const PENDING_JOB_FILE = 'job.json';

export interface PendingJob {
  id: string;
  /** The request body as the client sent it (validated again on resume: the option table may have changed). */
  request: unknown;
  startedAt: string;
}

const PendingJobFile = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  request: z.unknown(),
  startedAt: z.string(),
});

export async function savePendingJob(projectDir: string, job: PendingJob): Promise<void> {
  await writeFileAtomic(join(projectDir, PENDING_JOB_FILE), JSON.stringify(job, null, 1) + '\n');
}

export async function clearPendingJob(projectDir: string): Promise<void> {
  await rm(join(projectDir, PENDING_JOB_FILE), { force: true });
}

/**
 * The pending job of every project folder under `root`. A job.json that cannot be read is reported through `bad` and
 * left as it is (the toolkit never deletes what it cannot recognise as its own).
 */
export async function pendingJobs(
  root: string,
  bad: (project: string, why: string) => void,
): Promise<{ project: string; job: PendingJob }[]> {
  if (!existsSync(root)) return [];
  const out: { project: string; job: PendingJob }[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    const path = join(root, e.name, PENDING_JOB_FILE);
    if (!e.isDirectory() || !existsSync(path)) continue;
    try {
      out.push({ project: e.name, job: PendingJobFile.parse(JSON.parse(await readFile(path, 'utf8'))) as PendingJob });
    } catch (err) {
      bad(e.name, (err as Error).message.slice(0, 200));
    }
  }
  return out;
}
