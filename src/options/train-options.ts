// The one table of training options: name (= the library's TrainOptions key = the API's JSON key), type, default,
// help, the rungs it applies to and its CLI flag. `tl train`'s and `tl plan`'s flags (cli/options.ts), the server's
// request schema (train-schema.ts), the web app's request type (web/src/api.ts), the README's flags table
// (flags-markdown.ts) and the library's defaults (training/, plan/) all come from here, so they cannot drift.
// This file imports nothing: the web app's type check reads it too (web/tsconfig.json has no Node types).

/** The rungs: 'head' (rung 1), 'partial' (rung 2), 'full' (rung 3); 'auto' for options of auto's planning itself. */
export type Rung = 'head' | 'partial' | 'full' | 'auto';
export const STRATEGIES = ['head', 'partial', 'full', 'auto'] as const;
export const DEVICE_CHOICES = ['cpu', 'webgpu', 'auto'] as const;
export const CLASS_WEIGHT_MODES = ['auto', 'balanced', 'none'] as const;

// The library's defaults, as plain constants (training/ and plan/ import them instead of literals).
/** How long a user waits by default: 15 minutes (plan/plan.ts says why). */
export const DEFAULT_TIME_BUDGET = 900;
export const DEFAULT_VAL_FRACTION = 0.2;
export const DEFAULT_SEED = 0;
/** Images per backbone forward pass while extracting features. */
export const DEFAULT_EXTRACT_BATCH = 32;
export const PARTIAL_EPOCHS = 8;
export const FULL_EPOCHS = 6;
/** Early-stopping patience of fine-tuning, in epochs. */
export const FINETUNE_PATIENCE = 3;
/** Fine-tuning's minibatch (run in passes that fit the wasm heap). */
export const FINETUNE_BATCH_SIZE = 32;
/** Adam rate of the softmax when fine-tuning; new --replace units learn best at REPLACE_LR (finetune.ts says why). */
export const FINETUNE_LR = 1e-3;
export const REPLACE_LR = 1e-4;
/** Blocks rung 2 trains when neither --freeze nor --train-last is given. */
export const DEFAULT_TRAIN_LAST = 2;
/** Epochs of the MLP head (early stopping on an inner val split keeps the best). */
export const MLP_EPOCHS = 100;
/** More epochs than this is a typo, not a plan. */
export const MAX_EPOCHS = 10_000;

/** How a value is written and checked. */
export type OptionType =
  /** An integer >= min (0 or 1), at most max when set. */
  | { readonly kind: 'int'; readonly min: 0 | 1; readonly max?: number }
  /** A finite number > 0. */
  | { readonly kind: 'positive' }
  /** A number strictly between 0 and 1. */
  | { readonly kind: 'fraction' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'boolean' }
  /** Sizes of new units: CLI "hidden:UNITS[,UNITS]", JSON an array of positive integers. */
  | { readonly kind: 'units' }
  /** A head spec: "linear", "mlp[:UNITS][,dropout=P]" or the object form (classifier/head-spec.ts parses it). */
  | { readonly kind: 'head' }
  | { readonly kind: 'string' };

export interface OptionRow {
  readonly type: OptionType;
  readonly help: string;
  /** The rungs that read it ('auto': auto's planning). */
  readonly rungs: readonly Rung[];
  /** The default when it is one value; `defaultNote` when it depends on other options (shown in help and docs). */
  readonly default?: number | string | boolean;
  readonly defaultNote?: string;
  /** Its flag on `tl train` (`value`: the placeholder); `negate`: help of a --no-FLAG form. */
  readonly cli?: { readonly flag: string; readonly short?: string; readonly value?: string; readonly negate?: string };
  /** A key of the library's TrainOptions. */
  readonly library: boolean;
  /** Accepted in the server's training request (POST /v1/projects/{project}/train). */
  readonly api: boolean;
  /** Asks for rung 2 by hand: with --strategy auto it means partial; with head or full it is refused (normalise.ts). */
  readonly partialOnly?: boolean;
}

const ALL = ['head', 'partial', 'full', 'auto'] as const;
const TUNING = ['partial', 'full', 'auto'] as const;
const PARTIAL = ['partial', 'auto'] as const;

export const TRAIN_OPTIONS = {
  model: {
    type: { kind: 'string' },
    help: 'backbone id (see `tl models list`); a+b fuses the features of several',
    rungs: ALL,
    defaultNote: "the zoo's best",
    cli: { flag: '--model', short: '-m', value: '<id>' },
    library: true,
    api: true,
  },
  modelPath: {
    type: { kind: 'string' },
    help: "folder holding the backbone's files (skips the models dir, cache and download)",
    rungs: ALL,
    cli: { flag: '--model-path', value: '<dir>' },
    library: true,
    // A client of the server must not make it read folders of its choosing.
    api: false,
  },
  out: {
    type: { kind: 'string' },
    help: 'where to save the classifier bundle',
    rungs: ALL,
    defaultNote: './<data>-classifier',
    cli: { flag: '--out', short: '-o', value: '<dir>' },
    library: false,
    api: false,
  },
  val: {
    type: { kind: 'fraction' },
    help: 'validation fraction when the data has no val/ split',
    rungs: ALL,
    default: DEFAULT_VAL_FRACTION,
    cli: { flag: '--val', value: '<fraction>' },
    library: true,
    api: true,
  },
  allowOutside: {
    type: { kind: 'boolean' },
    help: "a CSV manifest may list images outside the CSV's folder",
    rungs: ALL,
    default: false,
    cli: { flag: '--allow-outside' },
    library: true,
    // A project's photos live in its own folder: the server never reads a CSV.
    api: false,
  },
  seed: {
    type: { kind: 'int', min: 0 },
    help: 'seed for the split, CV folds and init: same seed, byte-identical head',
    rungs: ALL,
    default: DEFAULT_SEED,
    cli: { flag: '--seed', value: '<n>' },
    library: true,
    api: true,
  },
  l2: {
    type: { kind: 'positive' },
    help: 'L2 regularization of the head',
    rungs: ALL,
    defaultNote: 'chosen by 5-fold CV on train',
    cli: { flag: '--l2', value: '<strength>' },
    library: true,
    api: true,
  },
  head: {
    type: { kind: 'head' },
    help: 'linear (a new softmax) or mlp:UNITS[,dropout=P] (hidden layer + softmax)',
    rungs: ['head', 'auto'],
    default: 'linear',
    cli: { flag: '--head', value: '<spec>' },
    library: true,
    api: true,
  },
  classWeights: {
    type: { kind: 'enum', values: CLASS_WEIGHT_MODES },
    help: 'auto | balanced | none (auto: balanced when classes are imbalanced)',
    rungs: ALL,
    default: 'auto',
    cli: { flag: '--class-weights', value: '<mode>' },
    library: true,
    api: true,
  },
  epochs: {
    type: { kind: 'int', min: 1, max: MAX_EPOCHS },
    help: 'epochs of the mlp head or of fine-tuning (early stopping keeps the best)',
    rungs: ALL,
    defaultNote: `${MLP_EPOCHS} mlp head, ${PARTIAL_EPOCHS} partial, ${FULL_EPOCHS} full`,
    cli: { flag: '--epochs', value: '<n>' },
    library: true,
    api: true,
  },
  batchSize: {
    type: { kind: 'int', min: 1 },
    help: 'images per backbone forward pass',
    rungs: ALL,
    default: DEFAULT_EXTRACT_BATCH,
    cli: { flag: '--batch', short: '-b', value: '<n>' },
    library: true,
    api: true,
  },
  json: {
    type: { kind: 'boolean' },
    help: 'print the final metrics as one JSON object on stdout',
    rungs: ALL,
    cli: { flag: '--json' },
    library: false,
    api: false,
  },
  strategy: {
    type: { kind: 'enum', values: STRATEGIES },
    help: 'head | partial | full | auto (auto: picks by images/class, --time-budget and measured speed; see `tl plan`)',
    rungs: ALL,
    default: 'auto',
    cli: { flag: '--strategy', value: '<rung>' },
    library: true,
    api: true,
  },
  freeze: {
    type: { kind: 'int', min: 0 },
    help: 'partial: freeze the first N blocks (list them with `tl plan DATA`)',
    rungs: PARTIAL,
    cli: { flag: '--freeze', value: '<n>' },
    library: true,
    api: true,
    partialOnly: true,
  },
  trainLast: {
    type: { kind: 'int', min: 0 },
    help: 'partial: fine-tune the last K blocks',
    rungs: PARTIAL,
    defaultNote: `${DEFAULT_TRAIN_LAST}`,
    cli: { flag: '--train-last', value: '<k>' },
    library: true,
    api: true,
    partialOnly: true,
  },
  reuse: {
    type: { kind: 'boolean' },
    help: 'partial: start the unfrozen blocks from their pretrained weights (the default)',
    rungs: PARTIAL,
    cli: { flag: '--reuse' },
    library: false,
    api: false,
    partialOnly: true,
  },
  replace: {
    type: { kind: 'units' },
    help: 'partial: replace the unfrozen blocks by new units hidden:UNITS[,UNITS] (1x1 conv + ReLU each, then average pool)',
    rungs: PARTIAL,
    cli: { flag: '--replace', value: '<spec>' },
    library: true,
    api: true,
    partialOnly: true,
  },
  lr: {
    type: { kind: 'positive' },
    help: 'fine-tuning: Adam learning rate of the head; reused blocks get a tenth, new --replace units the same',
    rungs: TUNING,
    defaultNote: `${FINETUNE_LR}; ${REPLACE_LR} with --replace`,
    cli: { flag: '--lr', value: '<rate>' },
    library: true,
    api: true,
  },
  tailLr: {
    type: { kind: 'positive' },
    help: 'fine-tuning: Adam learning rate of the pretrained blocks',
    rungs: TUNING,
    defaultNote: '--lr / 10; full: / 50 on photos, / 5 far from ImageNet',
    cli: { flag: '--tail-lr', value: '<rate>' },
    library: true,
    api: true,
  },
  weightDecay: {
    type: { kind: 'positive' },
    help: 'fine-tuning: decoupled (AdamW) weight decay of the kernels and the head, not biases/BatchNorm',
    rungs: TUNING,
    default: 0,
    cli: { flag: '--weight-decay', value: '<w>' },
    library: true,
    api: true,
  },
  timeBudget: {
    type: { kind: 'positive' },
    help: 'auto: how long training may take, in seconds',
    rungs: ['auto'],
    default: DEFAULT_TIME_BUDGET,
    cli: { flag: '--time-budget', value: '<seconds>' },
    library: true,
    api: true,
  },
  size: {
    type: { kind: 'int', min: 1 },
    help: 'fine-tuning: input size in pixels (e.g. 160; the int8 ONNX model only with --strategy full)',
    rungs: TUNING,
    defaultNote: "the backbone's",
    cli: { flag: '--size', value: '<px>' },
    library: true,
    api: true,
  },
  finetuneBatchSize: {
    type: { kind: 'int', min: 1 },
    help: 'fine-tuning: minibatch size (run in passes that fit the wasm heap)',
    rungs: TUNING,
    default: FINETUNE_BATCH_SIZE,
    cli: { flag: '--finetune-batch', value: '<n>' },
    library: true,
    api: true,
  },
  patience: {
    type: { kind: 'int', min: 1 },
    help: 'fine-tuning: early-stopping patience in epochs',
    rungs: TUNING,
    default: FINETUNE_PATIENCE,
    library: true,
    api: true,
  },
  restoreBest: {
    type: { kind: 'boolean' },
    help: 'fine-tuning: keep the epoch with the best validation accuracy (false keeps the last)',
    rungs: TUNING,
    default: true,
    library: true,
    api: true,
  },
  device: {
    type: { kind: 'enum', values: DEVICE_CHOICES },
    help: 'fine-tuning: cpu, webgpu (a GPU, or software rendering when none) or auto (a GPU if present, else cpu)',
    rungs: TUNING,
    defaultNote: 'TL_DEVICE or cpu',
    cli: { flag: '--device', value: '<device>' },
    library: true,
    api: true,
  },
  augment: {
    type: { kind: 'boolean' },
    help: 'fine-tuning: random resized crop, flip, brightness/contrast jitter on training images (seeded)',
    rungs: TUNING,
    defaultNote: 'on with --strategy full or --augment-copies',
    cli: { flag: '--augment', negate: 'full: train on the images as they are' },
    library: true,
    api: true,
  },
  augmentCopies: {
    type: { kind: 'int', min: 1 },
    help: 'partial + augment: cache K augmented copies per image (K x disk, frozen part runs once); without it the frozen part reruns every epoch',
    rungs: PARTIAL,
    cli: { flag: '--augment-copies', value: '<k>' },
    library: true,
    api: true,
    partialOnly: true,
  },
} as const satisfies Record<string, OptionRow>;

export type TrainOptionName = keyof typeof TRAIN_OPTIONS;
type Rows = typeof TRAIN_OPTIONS;
type NamesWhere<Cond> = { [K in TrainOptionName]: Rows[K] extends Cond ? K : never }[TrainOptionName];

/** The TrainOptions keys the table describes (the library's runtime-only fields, store/onEvent/signal, are not options). */
export type LibraryOptionName = NamesWhere<{ library: true }>;
/** The keys of the server's training request. */
export type ApiOptionName = NamesWhere<{ api: true }>;
/** Options with a `tl train` flag. */
export type CliOptionName = NamesWhere<{ cli: object }>;
/** Options that apply to a rung (for the type check against HeadTrainOptions / FinetuneTrainOptions). */
export type RungOptionName<R extends Rung> = {
  [K in TrainOptionName]: Rows[K] extends { library: true } ? (R extends Rows[K]['rungs'][number] ? K : never) : never;
}[TrainOptionName];

/** A head spec as JSON: the string syntax or the object form. */
export type HeadSpecJson = string | { kind: 'linear' } | { kind: 'mlp'; hidden?: number; dropout?: number };

/** The JSON value of an option of this type. */
export type JsonValueOf<T extends OptionType> = T extends { kind: 'int' | 'positive' | 'fraction' }
  ? number
  : T extends { kind: 'enum'; values: readonly (infer V)[] }
    ? V
    : T extends { kind: 'boolean' }
      ? boolean
      : T extends { kind: 'units' }
        ? number[]
        : T extends { kind: 'head' }
          ? HeadSpecJson
          : string;

/** The body of POST /v1/projects/{project}/train: every key optional (the web app's request type). */
export type TrainRequestBody = { [K in ApiOptionName]?: JsonValueOf<Rows[K]['type']> };

/** The rows, in table order, with their names. */
export function optionRows(): { name: TrainOptionName; row: OptionRow }[] {
  return Object.entries(TRAIN_OPTIONS).map(([name, row]) => ({ name: name as TrainOptionName, row }));
}

/** The API's keys, in table order. */
export const API_OPTION_NAMES = optionRows()
  .filter((r) => r.row.api)
  .map((r) => r.name as ApiOptionName);
