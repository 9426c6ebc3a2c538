import * as ort from 'onnxruntime-node';

import type { EncoderPlan } from '../model/io.js';
import type { ClipTokenizer } from '../tokenizer/clip.js';
import { readFloats } from './tensors.js';

/** UNet conditioning rows: per-token embeddings [batch, 77, D] and SDXL's pooled [batch, P]. */
export interface Conditioning {
  hidden: Float32Array;
  pooled: Float32Array | null;
  batch: number;
}

/** Conditioning plus the last prompt's token count and how many tokens it lost to truncation. */
export type EncodedText = Conditioning & { tokens: number; truncated: number };

/** The tokenizer, session and I/O plan of each text encoder, in order (SDXL has two). */
export interface TextEncoders {
  tokenizers: ClipTokenizer[];
  sessions: ort.InferenceSession[];
  plans: EncoderPlan[];
}

/** Per-token embeddings of each prompt (all encoders concatenated), and SDXL's pooled embeddings. */
export async function encodeText(enc: TextEncoders, prompts: string[]): Promise<EncodedText> {
  const batch = prompts.length;
  const seq = enc.tokenizers[0]!.maxLength;
  const parts: { hidden: Float32Array; width: number }[] = [];
  let pooled: Float32Array | null = null;
  let tokens = 0;
  let truncated = 0;
  for (const [k, plan] of enc.plans.entries()) {
    const tokenizer = enc.tokenizers[k]!;
    const encoded = prompts.map((p) => tokenizer.encode(p));
    const flat = encoded.flatMap((e) => e.ids);
    const ids =
      plan.idType === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(flat, (v) => BigInt(v)),
            [batch, seq],
          )
        : new ort.Tensor('int32', Int32Array.from(flat), [batch, seq]);
    const out = await enc.sessions[k]!.run({ [plan.input]: ids });
    const hidden = readFloats(out[plan.hidden], plan.file, plan.hidden);
    parts.push({ hidden, width: hidden.length / (batch * seq) });
    if (plan.pooled) pooled = readFloats(out[plan.pooled], plan.file, plan.pooled);
    const last = encoded[encoded.length - 1]!;
    tokens = last.length - 2;
    truncated = last.truncated;
  }
  if (parts.length === 1) return { hidden: parts[0]!.hidden, pooled, batch, tokens, truncated };
  // Concatenate along the feature axis, token by token.
  const width = parts.reduce((a, p) => a + p.width, 0);
  const hidden = new Float32Array(batch * seq * width);
  for (let row = 0; row < batch * seq; row++) {
    let offset = row * width;
    for (const p of parts) {
      hidden.set(p.hidden.subarray(row * p.width, (row + 1) * p.width), offset);
      offset += p.width;
    }
  }
  return { hidden, pooled, batch, tokens, truncated };
}

/**
 * The UNet conditioning rows for a generation: [uncond, cond] under guidance, [cond] otherwise.
 * `forceZerosForEmptyPrompt`: an empty negative prompt is a zero row instead of an encoded one (SDXL).
 */
export async function conditionPrompts(
  enc: TextEncoders,
  prompt: string,
  negativePrompt: string,
  cfg: boolean,
  forceZerosForEmptyPrompt: boolean,
): Promise<EncodedText> {
  if (!cfg) return encodeText(enc, [prompt]);
  if (negativePrompt === '' && forceZerosForEmptyPrompt) {
    // SDXL: an absent negative prompt is a zero row (diffusers' force_zeros_for_empty_prompt).
    const cond = await encodeText(enc, [prompt]);
    const hidden = new Float32Array(cond.hidden.length * 2);
    hidden.set(cond.hidden, cond.hidden.length);
    let pooled: Float32Array | null = null;
    if (cond.pooled) {
      pooled = new Float32Array(cond.pooled.length * 2);
      pooled.set(cond.pooled, cond.pooled.length);
    }
    return { ...cond, hidden, pooled, batch: 2 };
  }
  return encodeText(enc, [negativePrompt, prompt]);
}
