// The server's training request as a zod schema, generated from the option table: every option the API accepts
// (TRAIN_OPTIONS rows with api: true), checked by the table's type, unknown keys refused (strict), and each problem
// said in the table's words ("epochs must be at most 10000, got 20000").
import { z } from 'zod';
import { TlError } from '../util/errors.js';
import { enumProblem, numberProblem, UNITS_SYNTAX } from './check.js';
import {
  API_OPTION_NAMES,
  TRAIN_OPTIONS,
  type ApiOptionName,
  type OptionRow,
  type OptionType,
  type TrainRequestBody,
} from './train-options.js';

const HEAD_JSON = 'a head spec: "linear", "mlp[:UNITS][,dropout=P]" or {"kind":"mlp","hidden":UNITS,"dropout":P}';

function zodOf(type: OptionType): z.ZodType {
  const problem = (input: unknown) =>
    (typeof input === 'number' ? numberProblem(type, input) : undefined) ?? numberProblem(type, NaN);
  switch (type.kind) {
    case 'int': {
      const n = z
        .number({ error: (i) => problem(i.input) })
        .int({ error: (i) => problem(i.input) })
        .min(type.min, { error: (i) => problem(i.input) });
      return type.max === undefined ? n : n.max(type.max, { error: (i) => problem(i.input) });
    }
    case 'positive':
      return z.number({ error: (i) => problem(i.input) }).positive({ error: (i) => problem(i.input) });
    case 'fraction':
      return z
        .number({ error: (i) => problem(i.input) })
        .gt(0, { error: (i) => problem(i.input) })
        .lt(1, { error: (i) => problem(i.input) });
    case 'enum':
      return z.enum(type.values as [string, ...string[]], { error: () => enumProblem(type.values) });
    case 'boolean':
      return z.boolean({ error: () => 'must be true or false' });
    case 'units': {
      const error = () => `must be ${UNITS_SYNTAX.json}`;
      return z.array(z.number({ error }).int({ error }).min(1, { error }), { error }).min(1, { error });
    }
    case 'head':
      // The shape only; classifier/head-spec.ts parses the value (its one parser, shared with --head).
      return z.union([z.string(), z.looseObject({ kind: z.string() })], { error: () => `must be ${HEAD_JSON}` });
    case 'string':
      return z.string({ error: () => 'must be a string' });
  }
}

function description(row: OptionRow, defaultValue: unknown): string {
  const dflt = defaultValue !== undefined ? `default ${JSON.stringify(defaultValue)}` : row.defaultNote;
  return `${row.help}${dflt ? ` (${dflt})` : ''}; rungs: ${row.rungs.join(', ')}`;
}

/**
 * The request schema. `defaults` overrides the table's default where the server's differs (the web app trains the
 * head it asks for: strategy defaults to head there); defaults are documented, not filled in (the library fills them).
 */
export function trainRequestSchema(defaults: Partial<Record<ApiOptionName, unknown>> = {}) {
  const shape = Object.fromEntries(
    API_OPTION_NAMES.map((name) => {
      const row: OptionRow = TRAIN_OPTIONS[name];
      const dflt = name in defaults ? defaults[name] : row.default;
      return [
        name,
        zodOf(row.type)
          .optional()
          .meta({ description: description(row, dflt) }),
      ];
    }),
  );
  return z.strictObject(shape, {
    error: (i) =>
      i.code === 'unrecognized_keys'
        ? `unknown option${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}; known: ${API_OPTION_NAMES.join(', ')}`
        : 'must be a JSON object of training options',
  });
}

/**
 * A JSON body as training options: null and "" read as absent (as forms send them); throws a TlError naming each
 * problem (key, what it must be, what it got).
 */
export function parseTrainRequestBody(body: unknown, schema: z.ZodType = trainRequestSchema()): TrainRequestBody {
  const input =
    body && typeof body === 'object' && !Array.isArray(body)
      ? Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null && v !== ''))
      : (body ?? {});
  const r = schema.safeParse(input);
  if (r.success) return r.data as TrainRequestBody;
  const problems = r.error.issues.map((i) => {
    const key = i.path[0];
    if (key === undefined) return i.message;
    const got = (input as Record<PropertyKey, unknown>)[key];
    return `${String(key)} ${i.message}, got ${JSON.stringify(got)}`;
  });
  throw new TlError(problems.join('; ').slice(0, 600));
}
