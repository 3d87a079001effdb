// Reading back the `config` a bundle recorded (classifier.json): the one typed reader, so the server, export checks
// and the CLI never cast `Record<string, unknown>`. Every field is optional: older bundles lack some, and a project's
// bundle records its data folder relative to the project.
import { z } from 'zod';
import type { TrainConfig } from './config.js';

const SavedConfig = z
  .object({
    data: z.string(),
    split: z.enum(['folders', 'csv', 'random']),
    model: z.string(),
    seed: z.number().int().min(0),
    strategy: z.enum(['head', 'partial', 'full']),
    evaluatedOn: z.enum(['val', 'train (no validation images)']),
    trainImages: z.number().int().min(0),
    valImages: z.number().int().min(0),
  })
  .partial();

/** The fields every rung records; the rest of a TrainConfig is in the object too, unchecked. */
export type SavedTrainConfig = z.infer<typeof SavedConfig> &
  Partial<Omit<TrainConfig, keyof z.infer<typeof SavedConfig>>>;

/** A recorded config, its common fields checked; a field of the wrong type reads as absent. */
export function readSavedConfig(config: unknown): SavedTrainConfig {
  const raw = config && typeof config === 'object' ? (config as Record<string, unknown>) : {};
  const out: Record<string, unknown> = { ...raw };
  for (const key of Object.keys(SavedConfig.shape) as (keyof typeof SavedConfig.shape)[]) {
    if (!(key in raw)) continue;
    const r = SavedConfig.shape[key].safeParse(raw[key]);
    if (r.success) out[key] = r.data;
    else delete out[key];
  }
  return out as SavedTrainConfig;
}
