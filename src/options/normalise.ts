// The one rule for which rung options ask for: --freeze/--train-last/--replace/--augment-copies (and the CLI's
// --reuse) only mean something to rung 2, so with --strategy auto (or none) they mean partial, and with head or full
// they are refused rather than silently ignored. The CLI, the server and trainClassifier all call this.
import { TlError } from '../util/errors.js';
import { TRAIN_OPTIONS, optionRows, type Rung, type TrainOptionName } from './train-options.js';

/** How to name options in messages: the CLI's flags or the library's/API's keys. */
export type OptionNaming = 'flag' | 'key';

const PARTIAL_ONLY = optionRows()
  .filter((r) => r.row.partialOnly)
  .map((r) => r.name);

function nameOf(name: keyof typeof TRAIN_OPTIONS, naming: OptionNaming): string {
  const row = TRAIN_OPTIONS[name];
  return naming === 'flag' && 'cli' in row ? row.cli.flag : name;
}

/** The options that ask for rung 2 by hand, as given (false and undefined are not given). */
export function partialOnlyGiven(opts: object): TrainOptionName[] {
  const o = opts as Record<string, unknown>;
  return PARTIAL_ONLY.filter((n) => o[n] !== undefined && o[n] !== false);
}

/**
 * The options with the strategy they imply: 'partial' when rung-2 options are given under auto (or no strategy);
 * throws a TlError when they are given with head or full, or when reuse and replace are both given.
 */
export function normaliseStrategy<T extends { strategy?: Rung }>(opts: T, naming: OptionNaming = 'key'): T {
  const o = opts as Record<string, unknown>;
  if (o.reuse && o.replace !== undefined)
    throw new TlError(
      `${nameOf('reuse', naming)} and ${nameOf('replace', naming)} exclude each other`,
      'Reuse the pretrained blocks, or replace them by new units.',
    );
  const given = partialOnlyGiven(opts).map((n) => nameOf(n, naming));
  if (!given.length) return opts;
  if (opts.strategy === 'head' || opts.strategy === 'full') {
    const strategy = naming === 'flag' ? '--strategy ' : 'strategy ';
    throw new TlError(
      `${given.join(', ')} appl${given.length > 1 ? 'y' : 'ies'} to ${strategy}partial, not ${opts.strategy}`,
      `Drop ${given.length > 1 ? 'them' : 'it'}, or ask for ${strategy}partial (auto with ${given.length > 1 ? 'them' : 'it'} means partial).`,
    );
  }
  return opts.strategy === 'partial' ? opts : { ...opts, strategy: 'partial' };
}
