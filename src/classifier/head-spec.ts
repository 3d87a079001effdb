// The head on top of the features: a new softmax ("linear") or one hidden layer + softmax ("mlp"). One parser for
// every place a person writes one (the CLI's --head, the server's JSON body), so both accept the same syntax.
import { TlError } from '../util/errors.js';

export type HeadSpec = { kind: 'linear' } | { kind: 'mlp'; hidden: number; dropout: number };

export const DEFAULT_MLP_HIDDEN = 256;
export const DEFAULT_MLP_DROPOUT = 0.2;
/** Wider hidden layers only cost time and memory on a few thousand feature rows. */
export const MAX_MLP_HIDDEN = 8192;

export const HEAD_SPEC_SYNTAX =
  '"linear" or "mlp[:UNITS][,dropout=P]" (e.g. mlp:256), or {"kind":"mlp","hidden":UNITS,"dropout":P}';

/** "linear", "mlp", "mlp:UNITS", "mlp:UNITS,dropout=P", or the object form; throws a TlError naming the syntax. */
export function parseHeadSpec(v: unknown): HeadSpec {
  const bad = () => new TlError(`head must be ${HEAD_SPEC_SYNTAX}, got ${JSON.stringify(v)}`);
  let hidden: number;
  let dropout: number;
  if (typeof v === 'string') {
    if (v === 'linear') return { kind: 'linear' };
    const m = /^mlp(?::(\d+))?(?:,dropout=([0-9.]+))?$/.exec(v);
    if (!m) throw bad();
    hidden = m[1] === undefined ? DEFAULT_MLP_HIDDEN : Number(m[1]);
    dropout = m[2] === undefined ? DEFAULT_MLP_DROPOUT : Number(m[2]);
  } else if (v && typeof v === 'object') {
    const o = v as { kind?: unknown; hidden?: unknown; dropout?: unknown };
    if (o.kind === 'linear') return { kind: 'linear' };
    if (o.kind !== 'mlp') throw bad();
    hidden = o.hidden === undefined ? DEFAULT_MLP_HIDDEN : Number(o.hidden);
    dropout = o.dropout === undefined ? DEFAULT_MLP_DROPOUT : Number(o.dropout);
  } else throw bad();
  if (!Number.isInteger(hidden) || hidden < 1 || hidden > MAX_MLP_HIDDEN)
    throw new TlError(`mlp head: UNITS must be an integer from 1 to ${MAX_MLP_HIDDEN}, got ${JSON.stringify(v)}`);
  if (!(dropout >= 0 && dropout < 1))
    throw new TlError(`mlp head: dropout must be in [0, 1), got ${JSON.stringify(v)}`);
  return { kind: 'mlp', hidden, dropout };
}
