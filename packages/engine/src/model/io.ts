import type * as ort from 'onnxruntime-node';

import { EngineError } from '../errors.js';

export type FloatType = 'float32' | 'float16';
export type IdType = 'int32' | 'int64';
export type TimestepType = 'float32' | 'float16' | 'int64' | 'int32';

interface TensorMeta {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

/** How to feed and read each network, derived from the sessions' input/output metadata. */
/** One text encoder: which output gives per-token embeddings and, for SDXL's second, the pooled one. */
export interface EncoderPlan {
  file: string;
  input: string;
  idType: IdType;
  /** `last_hidden_state` (SD 1.x/2.x) or the penultimate `hidden_states.N` (SDXL). */
  hidden: string;
  hiddenSize: number | null;
  /** `text_embeds` of CLIPTextModelWithProjection (SDXL's text_encoder_2). */
  pooled: string | null;
}

export interface IoPlan {
  encoders: EncoderPlan[];
  unet: {
    sample: string;
    sampleType: FloatType;
    timestep: string;
    timestepType: TimestepType;
    /** 0 for a scalar timestep, 1 for `[B]`. */
    timestepRank: 0 | 1;
    hidden: string;
    hiddenType: FloatType;
    /** SDXL added conditioning: pooled text embeddings and the six size/crop ids. */
    textEmbeds: { name: string; type: FloatType } | null;
    timeIds: { name: string; type: FloatType } | null;
    /** LCM guidance embedding input and its width, when the UNet has one. */
    timestepCond: { name: string; dim: number; type: FloatType } | null;
    /** Largest batch the UNet accepts (1 when exported with a static batch), null for dynamic. */
    maxBatch: number | null;
    latentChannels: number;
    output: string;
    outputType: FloatType;
  };
  vae: { input: string; inputType: FloatType; output: string; outputType: FloatType };
}

function tensors(list: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return list.filter((m) => m.isTensor).map((m) => ({ name: m.name, type: m.type, shape: m.shape }));
}

function find(
  file: string,
  list: TensorMeta[],
  names: string[],
  what: string,
  kind: 'input' | 'output',
): TensorMeta {
  const hit = list.find((m) => names.includes(m.name));
  if (hit) return hit;
  throw new EngineError(
    'model_incompatible',
    `${file}: no ${kind} tensor named ${names.map((n) => `"${n}"`).join(' or ')} (${what}); it has ${list
      .map((m) => `"${m.name}"`)
      .join(', ')}`,
    { file },
  );
}

function floatType(file: string, m: TensorMeta): FloatType {
  if (m.type === 'float32' || m.type === 'float16') return m.type;
  throw new EngineError(
    'model_incompatible',
    `${file}: tensor "${m.name}" is ${m.type}; expected float32 or float16`,
    {
      file,
    },
  );
}

/** Derives the I/O plan, or throws `model_incompatible` naming the file and the tensor. */
function planEncoder(
  session: ort.InferenceSession,
  file: string,
  sdxl: boolean,
  second: boolean,
): EncoderPlan {
  const inputs = tensors(session.inputMetadata);
  const outputs = tensors(session.outputMetadata);
  const ids = find(file, inputs, ['input_ids'], 'token ids', 'input');
  if (ids.type !== 'int32' && ids.type !== 'int64') {
    throw new EngineError(
      'model_incompatible',
      `${file}: tensor "input_ids" is ${ids.type}; expected int32 or int64`,
      {
        file,
      },
    );
  }
  let hidden: TensorMeta;
  if (sdxl) {
    // diffusers' SDXL pipeline conditions on the penultimate layer of both encoders.
    const layers = outputs
      .map((m) => ({ m, n: /^hidden_states\.(\d+)$/.exec(m.name)?.[1] }))
      .filter((x): x is { m: TensorMeta; n: string } => x.n !== undefined)
      .sort((a, b) => Number(a.n) - Number(b.n));
    if (layers.length < 2) {
      throw new EngineError(
        'model_incompatible',
        `${file}: an SDXL text encoder needs its "hidden_states.N" outputs (export it with output_hidden_states)`,
        { file },
      );
    }
    hidden = layers[layers.length - 2]!.m;
  } else {
    hidden = find(file, outputs, ['last_hidden_state'], 'per-token embeddings', 'output');
  }
  floatType(file, hidden);
  const pooled = second
    ? find(file, outputs, ['text_embeds'], 'pooled, projected embedding', 'output')
    : null;
  return {
    file,
    input: ids.name,
    idType: ids.type,
    hidden: hidden.name,
    hiddenSize: typeof hidden.shape[2] === 'number' ? hidden.shape[2] : null,
    pooled: pooled?.name ?? null,
  };
}

/** Derives the I/O plan, or throws `model_incompatible` naming the file and the tensor. */
export function planIo(
  sessions: {
    textEncoders: ort.InferenceSession[];
    unet: ort.InferenceSession;
    vae: ort.InferenceSession;
  },
  files: { textEncoder: string; textEncoder2: string | null; unet: string; vaeDecoder: string },
): IoPlan {
  const uIn = tensors(sessions.unet.inputMetadata);
  const uOut = tensors(sessions.unet.outputMetadata);
  const sample = find(files.unet, uIn, ['sample'], 'noisy latents', 'input');
  const timestep = find(files.unet, uIn, ['timestep'], 'diffusion timestep', 'input');
  const hidden = find(files.unet, uIn, ['encoder_hidden_states'], 'text embeddings', 'input');
  const cond = uIn.find((m) => m.name === 'timestep_cond');
  const textEmbeds = uIn.find((m) => m.name === 'text_embeds');
  const timeIds = uIn.find((m) => m.name === 'time_ids');
  const sdxl = textEmbeds !== undefined || timeIds !== undefined;
  if (sdxl && (!textEmbeds || !timeIds || !files.textEncoder2 || sessions.textEncoders.length < 2)) {
    throw new EngineError(
      'model_incompatible',
      `${files.unet}: an SDXL UNet needs both "text_embeds" and "time_ids" inputs and text_encoder_2/model.onnx`,
      { file: files.unet },
    );
  }
  if (!sdxl && files.textEncoder2) {
    throw new EngineError(
      'model_incompatible',
      `${files.unet}: the model has text_encoder_2 but its UNet has no "text_embeds"/"time_ids" inputs`,
      { file: files.unet },
    );
  }
  const encoders = [planEncoder(sessions.textEncoders[0]!, files.textEncoder, sdxl, false)];
  if (sdxl) encoders.push(planEncoder(sessions.textEncoders[1]!, files.textEncoder2!, true, true));
  const widths = encoders.map((e) => e.hiddenSize);
  const hiddenSize = widths.every((w) => w !== null) ? widths.reduce((a, b) => a + b, 0) : null;
  const known = new Set([
    'sample',
    'timestep',
    'encoder_hidden_states',
    'timestep_cond',
    'text_embeds',
    'time_ids',
  ]);
  const unknown = uIn.filter((m) => !known.has(m.name));
  if (unknown.length > 0) {
    throw new EngineError(
      'model_incompatible',
      `${files.unet}: input tensor "${unknown[0]!.name}" is not supported (ControlNet and adapter inputs are not)`,
      { file: files.unet },
    );
  }
  if (!['float32', 'float16', 'int64', 'int32'].includes(timestep.type)) {
    throw new EngineError('model_incompatible', `${files.unet}: tensor "timestep" is ${timestep.type}`, {
      file: files.unet,
    });
  }
  if (timestep.shape.length > 1) {
    throw new EngineError(
      'model_incompatible',
      `${files.unet}: tensor "timestep" has rank ${timestep.shape.length}; expected a scalar or [batch]`,
      { file: files.unet },
    );
  }
  const uHidden = hidden.shape[2];
  if (typeof uHidden === 'number' && hiddenSize !== null && uHidden !== hiddenSize) {
    throw new EngineError(
      'model_incompatible',
      `${files.unet}: tensor "encoder_hidden_states" expects width ${uHidden} but the text encoder output ${encoders.map((e) => `${e.file} "${e.hidden}"`).join(' + ')} has ${hiddenSize}`,
      { file: files.unet },
    );
  }
  let timestepCond: IoPlan['unet']['timestepCond'] = null;
  if (cond) {
    const dim = cond.shape[1];
    if (typeof dim !== 'number') {
      throw new EngineError(
        'model_incompatible',
        `${files.unet}: tensor "timestep_cond" needs a fixed width`,
        {
          file: files.unet,
        },
      );
    }
    timestepCond = { name: cond.name, dim, type: floatType(files.unet, cond) };
  }
  const channels = sample.shape[1];
  const out = find(files.unet, uOut, ['out_sample', 'sample'], 'predicted noise', 'output');
  const batch = sample.shape[0];

  const vIn = tensors(sessions.vae.inputMetadata);
  const vOut = tensors(sessions.vae.outputMetadata);
  const latent = find(files.vaeDecoder, vIn, ['latent_sample'], 'latents', 'input');
  const image = find(files.vaeDecoder, vOut, ['sample'], 'decoded image', 'output');
  const vaeChannels = latent.shape[1];
  if (typeof vaeChannels === 'number' && typeof channels === 'number' && vaeChannels !== channels) {
    throw new EngineError(
      'model_incompatible',
      `${files.vaeDecoder}: tensor "latent_sample" has ${vaeChannels} channels but ${files.unet} "sample" has ${channels}`,
      { file: files.vaeDecoder },
    );
  }
  return {
    encoders,
    unet: {
      sample: sample.name,
      sampleType: floatType(files.unet, sample),
      timestep: timestep.name,
      timestepType: timestep.type as TimestepType,
      timestepRank: timestep.shape.length === 0 ? 0 : 1,
      hidden: hidden.name,
      hiddenType: floatType(files.unet, hidden),
      textEmbeds: textEmbeds ? { name: textEmbeds.name, type: floatType(files.unet, textEmbeds) } : null,
      timeIds: timeIds ? { name: timeIds.name, type: floatType(files.unet, timeIds) } : null,
      timestepCond,
      maxBatch: typeof batch === 'number' ? batch : null,
      latentChannels: typeof channels === 'number' ? channels : 4,
      output: out.name,
      outputType: floatType(files.unet, out),
    },
    vae: {
      input: latent.name,
      inputType: floatType(files.vaeDecoder, latent),
      output: image.name,
      outputType: floatType(files.vaeDecoder, image),
    },
  };
}
