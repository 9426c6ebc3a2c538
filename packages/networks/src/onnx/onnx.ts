import { ProtoWriter } from './protobuf.js';

/**
 * Builds an ONNX `ModelProto` (the subset a converted feed-forward network needs: nodes with attributes,
 * initializers, typed graph inputs and outputs) and encodes it. Field numbers follow onnx/onnx.proto
 * (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto).
 */

/** ONNX IR version 8 (onnx 1.10+); onnxruntime 1.30 reads it. */
export const IR_VERSION = 8;
/** The default-domain opset the converter emits. */
export const OPSET = 17;

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7, FLOAT16: 10 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export type Attribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] };

export const attr = {
  int: (value: number): Attribute => ({ kind: 'int', value }),
  float: (value: number): Attribute => ({ kind: 'float', value }),
  string: (value: string): Attribute => ({ kind: 'string', value }),
  ints: (value: readonly number[]): Attribute => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attribute => ({ kind: 'floats', value }),
};

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  attributes?: Record<string, Attribute>;
}

export type TensorData =
  | { type: typeof DataType.FLOAT; data: Float32Array }
  | { type: typeof DataType.UINT8; data: Uint8Array }
  /** IEEE 754 half-precision values as their bit patterns (see `float32ToFloat16`). */
  | { type: typeof DataType.FLOAT16; data: Uint16Array }
  | { type: typeof DataType.INT64; data: BigInt64Array };

export interface Initializer {
  name: string;
  dims: readonly number[];
  tensor: TensorData;
}

/** A graph input or output: a float tensor whose dims are numbers or symbolic names (`"height"`). */
export interface ValueInfo {
  name: string;
  elemType: DataTypeCode;
  dims: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly Initializer[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

export interface ModelMetadata {
  producerName: string;
  producerVersion: string;
  docString: string;
  /** `metadata_props` key/value pairs (source package, version, licence). */
  properties: Record<string, string>;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function encodeAttribute(name: string, a: Attribute): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'floats':
      for (const v of a.value) w.float(7, v);
      break;
    case 'ints':
      for (const v of a.value) w.int(8, v);
      break;
  }
  return w.int(20, ATTRIBUTE_TYPE[a.kind]);
}

function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, encodeAttribute(k, v));
  return w;
}

function rawBytes(t: TensorData): Uint8Array {
  // raw_data is little-endian; every platform Node runs on is little-endian, so the typed array's bytes are it.
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function encodeTensor(t: Initializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  return w.int(2, t.tensor.type).string(8, t.name).bytes(9, rawBytes(t.tensor));
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Encodes a model: deterministic bytes for the same graph and metadata. */
export function encodeModel(graph: OnnxGraph, meta: ModelMetadata): Uint8Array {
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, encodeNode(n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, encodeTensor(t));
  for (const i of graph.inputs) g.message(11, encodeValueInfo(i));
  for (const o of graph.outputs) g.message(12, encodeValueInfo(o));

  const m = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, meta.producerName)
    .string(3, meta.producerVersion)
    .string(6, meta.docString)
    .message(7, g)
    .message(8, new ProtoWriter().string(1, '').int(2, OPSET));
  for (const [k, v] of Object.entries(meta.properties)) {
    m.message(14, new ProtoWriter().string(1, k).string(2, v));
  }
  return m.finish();
}
