import { ConversionError } from '../errors.js';
import { DataType, encodeModel, type ModelMetadata, type ValueInfo } from '../onnx/onnx.js';
import { readWeights, type LayersModelJson, type Weight } from '../tfjs/artifacts.js';
import { GraphBuilder, type Value } from './builder.js';
import { emitterFor, type KerasLayer } from './layers.js';

export interface ConvertOptions {
  /** Name of the ONNX input, an NCHW float tensor. Default `image`. */
  inputName?: string;
  /** Name of the ONNX output. Default `output`. */
  outputName?: string;
  /**
   * Multiplies the input before the first layer (255 for networks trained on 0–255 pixels, so the ONNX model
   * takes 0–1 like the engine's other image networks). Default 1.
   */
  inputScale?: number;
  /** Divides the output by this after the last layer (255 to give 0–1 back). Default 1. */
  outputDivisor?: number;
  /**
   * How float32 weights are stored: `float32` (default, exact) or `float16` (half the size; each weight
   * rounded to the nearest half, cast back to float32 in the graph, so the network computes in float32).
   * uint8-quantized weights stay uint8 either way.
   */
  weightType?: 'float32' | 'float16';
  /** Producer, source and licence recorded in the ONNX file's metadata. */
  metadata?: Partial<ModelMetadata>;
}

interface RawLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

interface Topology {
  className: string;
  layers: RawLayer[];
  inputs: string[];
  outputs: string[];
}

function readTopology(json: LayersModelJson): Topology {
  const topo = json.modelTopology as {
    model_config?: unknown;
    class_name?: unknown;
    config?: unknown;
  } | null;
  const model = (topo?.model_config ?? topo) as { class_name?: string; config?: unknown } | undefined;
  if (!model || typeof model.class_name !== 'string') {
    throw new ConversionError(
      'model.json: "modelTopology" is not a Keras layers model (graph models are not supported)',
    );
  }
  const cfg = model.config as
    { layers?: RawLayer[]; input_layers?: unknown[]; output_layers?: unknown[] } | RawLayer[];
  const layers = Array.isArray(cfg) ? cfg : cfg.layers;
  if (!Array.isArray(layers) || layers.length === 0)
    throw new ConversionError('model.json: the model has no layers');
  if (model.class_name === 'Sequential') {
    return { className: 'Sequential', layers, inputs: [], outputs: [] };
  }
  const names = (list: unknown[] | undefined, what: string): string[] => {
    if (!Array.isArray(list) || list.length !== 1) {
      throw new ConversionError(`model.json: exactly one ${what} is supported`);
    }
    return list.map((e) => (e as [string])[0]);
  };
  const c = cfg as { input_layers?: unknown[]; output_layers?: unknown[] };
  return {
    className: model.class_name,
    layers,
    inputs: names(c.input_layers, 'input'),
    outputs: names(c.output_layers, 'output'),
  };
}

function layerName(l: RawLayer): string {
  const n = l.name ?? l.config['name'];
  if (typeof n !== 'string') throw new ConversionError(`a ${l.class_name} layer has no name`);
  return n;
}

/** Inbound layer names of a functional layer; a layer called more than once (shared weights) is refused. */
function inbound(l: RawLayer): string[] {
  const nodes = l.inbound_nodes ?? [];
  if (nodes.length === 0) return [];
  if (nodes.length > 1)
    throw new ConversionError(`layer "${layerName(l)}" is shared (called ${nodes.length} times)`);
  const calls = nodes[0];
  if (!Array.isArray(calls)) throw new ConversionError(`layer "${layerName(l)}": unreadable inbound_nodes`);
  return calls.map((c: unknown) => {
    if (Array.isArray(c) && typeof c[0] === 'string' && c[1] === 0 && c[2] === 0) return c[0];
    throw new ConversionError(`layer "${layerName(l)}": only first-output connections are supported`);
  });
}

function inputDims(l: RawLayer): (number | string)[] {
  const shape = l.config['batch_input_shape'] ?? l.config['batchInputShape'];
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new ConversionError(`input "${layerName(l)}" must be an image [batch, height, width, channels]`);
  }
  const [, h, w, c] = shape as (number | null)[];
  if (typeof c !== 'number')
    throw new ConversionError(`input "${layerName(l)}" must have a fixed channel count`);
  return ['batch', c, h ?? 'height', w ?? 'width'];
}

/**
 * Converts a TensorFlow.js layers model (the parsed `model.json` and its weight shards by path) to ONNX
 * bytes. The ONNX model takes NCHW float input and computes what the Keras model computes in NHWC.
 */
export function convertLayersModel(
  json: LayersModelJson,
  shards: ReadonlyMap<string, Uint8Array>,
  options: ConvertOptions = {},
): Uint8Array {
  const topo = readTopology(json);
  const weights = readWeights(json.weightsManifest, shards);
  const b = new GraphBuilder(options.weightType ?? 'float32');
  const inputName = b.unique(options.inputName ?? 'image');
  const outputName = options.outputName ?? 'output';
  const values = new Map<string, Value>();
  let inputInfo: ValueInfo | null = null;
  let previous: Value | null = null;
  const usedWeights = new Set<string>();

  const first = topo.layers[0]!;
  let rawLayers = topo.layers;
  if (topo.className === 'Sequential' && first.class_name !== 'InputLayer') {
    rawLayers = [
      {
        class_name: 'InputLayer',
        name: 'input',
        config: { batch_input_shape: first.config['batch_input_shape'] },
      },
      ...rawLayers,
    ];
  }

  for (const raw of rawLayers) {
    const name = layerName(raw);
    if (raw.class_name === 'InputLayer') {
      if (inputInfo) throw new ConversionError('exactly one input layer is supported');
      inputInfo = { name: inputName, elemType: DataType.FLOAT, dims: inputDims(raw) };
      let v: Value = { name: inputName, rank: 4 };
      if ((options.inputScale ?? 1) !== 1) {
        v = { name: b.node('Mul', [inputName, b.scalar(options.inputScale!)], `${name}/scaled`), rank: 4 };
      }
      values.set(name, v);
      previous = v;
      continue;
    }
    const from =
      topo.className === 'Sequential'
        ? [previous!]
        : inbound(raw).map((n) => {
            const v = values.get(n);
            if (!v)
              throw new ConversionError(`layer "${name}" reads "${n}", which comes later or does not exist`);
            return v;
          });
    const layer: KerasLayer = { name, className: raw.class_name, config: raw.config };
    const lookup = (short: string): Weight | undefined => {
      for (const key of [`${name}/${short}`, `${name}/${short}:0`]) {
        const w = weights.get(key);
        if (w) {
          usedWeights.add(key);
          return w;
        }
      }
      return undefined;
    };
    const out = emitterFor(layer)({
      b,
      layer,
      inputs: from,
      weight: (short) => lookup(short) ?? failMissing(name, short),
      hasWeight: (short) => lookup(short) !== undefined,
    });
    values.set(name, out);
    previous = out;
  }
  if (!inputInfo) throw new ConversionError('the model has no InputLayer');
  const unused = [...weights.keys()].filter((k) => !usedWeights.has(k));
  if (unused.length > 0)
    throw new ConversionError(`weights not used by any layer: ${unused.slice(0, 5).join(', ')}`);

  const lastName = topo.className === 'Sequential' ? layerName(rawLayers.at(-1)!) : topo.outputs[0]!;
  let result = values.get(lastName);
  if (!result) throw new ConversionError(`output layer "${lastName}" does not exist`);
  const divisor = options.outputDivisor ?? 1;
  result = {
    name: b.node(
      divisor === 1 ? 'Identity' : 'Div',
      divisor === 1 ? [result.name] : [result.name, b.scalar(divisor)],
      outputName,
    ),
    rank: result.rank,
  };
  const outputDims: (number | string)[] =
    result.rank === 2 ? ['batch', 'classes'] : ['batch', 'channels', 'out_height', 'out_width'];

  return encodeModel(
    {
      name: 'converted',
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: [inputInfo],
      outputs: [{ name: result.name, elemType: DataType.FLOAT, dims: outputDims }],
    },
    {
      producerName: 'imagegen-networks',
      producerVersion: '1',
      docString: '',
      properties: {},
      ...options.metadata,
    },
  );
}

function failMissing(layer: string, short: string): never {
  throw new ConversionError(`layer "${layer}": weight "${layer}/${short}" is missing from the manifest`);
}
