/**
 * Builds, at test time, a UNet that holds its thread inside one onnxruntime run for as long as a test needs:
 * the fixture UNet's exact inputs and output, computed by an ONNX `Loop` that passes `sample` through `trips`
 * iterations (about a microsecond each). With millions of trips the run blocks far past a test's deadline, yet
 * ends by itself — a thread inside a native run cannot be terminated, only left to finish.
 *
 * The ONNX protobuf is written by hand (field numbers from onnx/onnx.proto), so no Python is needed.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TINY_RANDOM } from './fixtures.js';

/** ONNX TensorProto.DataType values. */
const FLOAT = 1;
const INT64 = 7;
const BOOL = 9;
/** ONNX AttributeProto.AttributeType.GRAPH. */
const ATTRIBUTE_GRAPH = 5;

function varint(value: number | bigint): Buffer {
  let n = BigInt(value);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

/** A varint field (wire type 0). */
const int = (field: number, value: number | bigint): Buffer =>
  Buffer.concat([varint(field << 3), varint(value)]);

/** A length-delimited field (wire type 2): a string, bytes or an embedded message. */
function bytes(field: number, value: string | Buffer): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

const message = (...fields: Buffer[]): Buffer => Buffer.concat(fields);

/** ValueInfoProto; `shape` null leaves the rank unknown, `[]` is a scalar, strings are symbolic dims. */
function valueInfo(name: string, elemType: number, shape: (number | string)[] | null): Buffer {
  const dims = (shape ?? []).map((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d)));
  const tensorType = message(int(1, elemType), ...(shape ? [bytes(2, message(...dims))] : []));
  return message(bytes(1, name), bytes(2, bytes(1, tensorType)));
}

function node(op: string, inputs: string[], outputs: string[], attributes: Buffer[] = []): Buffer {
  return message(
    ...inputs.map((i) => bytes(1, i)),
    ...outputs.map((o) => bytes(2, o)),
    bytes(4, op),
    ...attributes.map((a) => bytes(5, a)),
  );
}

function graph(g: {
  name: string;
  nodes: Buffer[];
  initializers?: Buffer[];
  inputs: Buffer[];
  outputs: Buffer[];
}) {
  return message(
    ...g.nodes.map((n) => bytes(1, n)),
    bytes(2, g.name),
    ...(g.initializers ?? []).map((t) => bytes(5, t)),
    ...g.inputs.map((v) => bytes(11, v)),
    ...g.outputs.map((v) => bytes(12, v)),
  );
}

/** A scalar TensorProto with little-endian `raw_data`. */
const scalar = (name: string, dataType: number, raw: Buffer): Buffer =>
  message(int(2, dataType), bytes(8, name), bytes(9, raw));

/** The ONNX model bytes: inputs and output of the tiny-random UNet, `trips` loop iterations in between. */
export function loopingUnetModel(trips: number): Buffer {
  const body = graph({
    name: 'spin',
    nodes: [node('Identity', ['keep_in'], ['keep_out']), node('Identity', ['x_in'], ['x_out'])],
    inputs: [
      valueInfo('iteration', INT64, []),
      valueInfo('keep_in', BOOL, []),
      valueInfo('x_in', FLOAT, null),
    ],
    outputs: [valueInfo('keep_out', BOOL, []), valueInfo('x_out', FLOAT, null)],
  });
  const tripCount = Buffer.alloc(8);
  tripCount.writeBigInt64LE(BigInt(trips));
  const main = graph({
    name: 'looping_unet',
    nodes: [
      node(
        'Loop',
        ['trips', 'keep_going', 'sample'],
        ['out_sample'],
        [message(bytes(1, 'body'), bytes(6, body), int(20, ATTRIBUTE_GRAPH))],
      ),
    ],
    initializers: [scalar('trips', INT64, tripCount), scalar('keep_going', BOOL, Buffer.from([1]))],
    inputs: [
      valueInfo('sample', FLOAT, ['batch', 4, 'height', 'width']),
      valueInfo('timestep', FLOAT, ['batch']),
      valueInfo('encoder_hidden_states', FLOAT, ['batch', 77, 32]),
    ],
    outputs: [valueInfo('out_sample', FLOAT, ['batch', 4, 'height', 'width'])],
  });
  // ir_version 8, opset 17 (the fixture models' opset).
  return message(int(1, 8), bytes(2, 'imagegen-test'), bytes(7, main), bytes(8, int(2, 17)));
}

/** A private copy of the tiny-random model whose UNet spins `trips` loop iterations per run. */
export function loopingModel(trips: number): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'imagegen-looping-'));
  const dir = join(root, 'model');
  cpSync(TINY_RANDOM, dir, { recursive: true });
  writeFileSync(join(dir, 'unet', 'model.onnx'), loopingUnetModel(trips));
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
