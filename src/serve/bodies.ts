// JSON request bodies of the project API, as zod schemas: a wrong shape is a 400 naming the field, never ignored.
// Names themselves are checked by validateName (projects.ts), which explains the allowed characters.
import { z } from 'zod';
import { badRequest } from './errors.js';

export const CreateProjectBody = z.strictObject({
  name: z.string(),
  classes: z.array(z.string()).max(1000).optional(),
});

export const ClassNameBody = z.strictObject({ name: z.string() });

/** Parse a request body with a schema; 400 invalid_body listing each problem. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`).join('; ');
  throw badRequest(`invalid request body: ${problems}`.slice(0, 400), 'invalid_body');
}
