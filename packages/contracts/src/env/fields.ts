import { z } from 'zod';

/**
 * An integer variable in [min, max] with a default when unset. The one int helper of every process's
 * config; numbers are coerced from their string form.
 */
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

/** An `http://` or `https://` URL (an OpenAI-compatible API root and the like). */
export const httpUrl = z.string().regex(/^https?:\/\//, 'must be an http(s) URL');

/**
 * Issues of one field schema, checked only when a rule makes the variable matter, re-reported under
 * the variable's name. Returns the parsed value, or undefined when it is invalid.
 */
export function checkField<S extends z.ZodType>(
  ctx: z.RefinementCtx,
  variable: string,
  schema: S,
  value: unknown,
): z.output<S> | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const issue of r.error.issues)
    ctx.addIssue({ code: 'custom', path: [variable], message: issue.message });
  return undefined;
}
