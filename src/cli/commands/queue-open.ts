// `--queue URL` on tl embed and tl train: connect (one line if Redis does not answer) and say who takes the jobs.
import type { QueueExtractor, QueueExtractorOptions } from '../../queue/coordinator.js';

export async function openQueue(url: string, opts: QueueExtractorOptions = {}): Promise<QueueExtractor> {
  const [{ QueueExtractor }, { displayUrl }] = await Promise.all([
    import('../../queue/coordinator.js'),
    import('../../queue/connection.js'),
  ]);
  const q = await QueueExtractor.connect(url, opts);
  const workers = await q.workerCount();
  process.stderr.write(
    `queue: ${displayUrl(url)} (Redis ${q.redisVersion}), ${workers} worker${workers === 1 ? '' : 's'} connected` +
      (workers ? '\n' : '; jobs wait until a `tl worker --queue` starts\n'),
  );
  return q;
}
