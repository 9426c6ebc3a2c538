import { z } from 'zod';

/**
 * What a worker tells the service about the model it runs, registered in Redis when it starts: its name,
 * what it can draw, and — for a model with a small closed vocabulary such as the bundled shapes model —
 * the words it knows, so the API can warn a prompt that asks for something the model cannot draw.
 */
export const ModelInfo = z.object({
  /** The model directory's name (e.g. `model` for the bundled one, `sd-turbo`). */
  name: z.string(),
  /** One sentence on what the model draws (from its imagegen.json `description`), or null. */
  description: z.string().nullable(),
  /**
   * The whole words of a closed vocabulary (lower case), or null for an open one (a CLIP tokenizer knows
   * nearly every English word).
   */
  vocabulary: z.array(z.string()).nullable(),
  /** The hub commit of a pulled model, null for a directory that was not pulled (registrations before it: null). */
  revision: z.string().nullable().default(null),
  /** The generation size the model was trained at (width × height), null when not reported. */
  native: z.object({ width: z.int(), height: z.int() }).nullable().default(null),
  /** Epoch ms of the latest registration. */
  registeredAt: z.int(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;
