// An export's own process (exports.ts starts it): `tl export` of one project bundle (exportLoaded) and its agreement
// check (checkExport) on the project's validation photos. Both run the backbone (TF.js on wasm runs on the calling
// thread): here they never hold up the server's event loop. Sends one message, then exits.
import { Classifier } from '../classifier/classifier.js';
import { exportLoaded, type ExportFormat } from '../export/export.js';
import { checkExport, type ExportCheck } from '../export/run-export.js';
import { answerOneRequest, type ChildErrorReply } from './child-call.js';
import { applyEnv, type EnvSnapshot } from './child-protocol.js';

export interface ExportRequest {
  env: EnvSnapshot;
  bundleDir: string;
  /** The project's images folder: the bundle's config names it relative to the project. */
  imagesDir: string;
  out: string;
  format: ExportFormat;
  /** Validation photos the check runs on, at most. */
  checkLimit: number;
}

export type ExportReply =
  | {
      type: 'result';
      files: { name: string; bytes: number }[];
      problems: string[];
      check: ExportCheck | { reason: string };
    }
  | ChildErrorReply;

async function run(m: ExportRequest): Promise<ExportReply> {
  applyEnv(m.env);
  const clf = await Classifier.load(m.bundleDir);
  try {
    (clf.data.config as { data?: string }).data = m.imagesDir;
    const r = await exportLoaded(clf, { format: m.format, out: m.out });
    const check = await checkExport(clf, r.dir, { limit: m.checkLimit });
    return { type: 'result', files: r.files, problems: r.problems, check };
  } finally {
    await clf.dispose();
  }
}

answerOneRequest(run, 'export failed');
