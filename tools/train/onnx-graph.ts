// The rescorer's ONNX graph, written and read with the ONNX protobuf schema (onnx-proto):
//
//   features[N,F] ─Sub(mean)─Div(std)─MatMul(W[F,1])─Add(b[1])─Sigmoid─▶ probability[N,1]
//
// `encodeLogisticModel` is what the trainer exports; `decodeLogisticModel` reads the
// weights back out of any such file, for the TypeScript reference forward pass that the
// parity test compares against onnxruntime.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const OPSET = 13;
export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'probability';

export interface LogisticWeights {
  mean: Float32Array;
  std: Float32Array;
  weights: Float32Array;
  bias: number;
}

function floatTensor(name: string, dims: number[], values: Float32Array) {
  // raw_data is little-endian IEEE 754: byte-for-byte reproducible on every platform.
  const raw = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw });
}

function tensorType(dims: (number | string)[]) {
  return onnx.TypeProto.create({
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  });
}

/** Serialises a normalised logistic regression as an ONNX model (IR 8, opset 13). */
export function encodeLogisticModel(w: LogisticWeights, docString: string, producerVersion: string): Uint8Array {
  const F = w.weights.length;
  const node = (opType: string, inputs: string[], output: string) =>
    onnx.NodeProto.create({ opType, input: inputs, output: [output], name: `${opType.toLowerCase()}_${output}` });
  const graph = onnx.GraphProto.create({
    name: 'safesphere_rescorer',
    node: [
      node('Sub', [INPUT_NAME, 'mean'], 'centred'),
      node('Div', ['centred', 'std'], 'normalised'),
      node('MatMul', ['normalised', 'W'], 'linear'),
      node('Add', ['linear', 'b'], 'logit'),
      node('Sigmoid', ['logit'], OUTPUT_NAME),
    ],
    initializer: [
      floatTensor('mean', [F], w.mean),
      floatTensor('std', [F], w.std),
      floatTensor('W', [F, 1], w.weights),
      floatTensor('b', [1], new Float32Array([w.bias])),
    ],
    input: [onnx.ValueInfoProto.create({ name: INPUT_NAME, type: tensorType(['batch', F]) })],
    output: [onnx.ValueInfoProto.create({ name: OUTPUT_NAME, type: tensorType(['batch', 1]) })],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'safesphere-edge train',
    producerVersion,
    domain: 'safesphere.edge',
    modelVersion: 1,
    docString,
    opsetImport: [{ domain: '', version: OPSET }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

function readFloats(t: InstanceType<typeof onnx.TensorProto>): Float32Array {
  if (t.rawData && t.rawData.length > 0) {
    const raw = Buffer.from(t.rawData);
    return Float32Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(i * 4));
  }
  return Float32Array.from(t.floatData ?? []);
}

/** Reads the weights back from a model written by `encodeLogisticModel`. */
export function decodeLogisticModel(bytes: Uint8Array): LogisticWeights {
  const model = onnx.ModelProto.decode(bytes);
  const ops = (model.graph?.node ?? []).map((n) => n.opType).join(',');
  if (ops !== 'Sub,Div,MatMul,Add,Sigmoid') throw new Error(`not a rescorer logistic graph (ops: ${ops})`);
  const init = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', readFloats(t as InstanceType<typeof onnx.TensorProto>)]));
  const get = (name: string) => {
    const v = init.get(name);
    if (!v) throw new Error(`initializer ${name} missing`);
    return v;
  };
  return { mean: get('mean'), std: get('std'), weights: get('W'), bias: get('b')[0]! };
}

/** Float32 arithmetic, step for step as the graph does it. */
const f32 = Math.fround;

/** The TypeScript reference forward pass of the same weights: probability per row. */
export function referenceForward(w: LogisticWeights, features: Float32Array, rows: number): Float32Array {
  const F = w.weights.length;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let z = 0;
    for (let j = 0; j < F; j++) {
      const x = f32(f32(features[r * F + j]! - w.mean[j]!) / w.std[j]!);
      z += x * w.weights[j]!;
    }
    const logit = f32(f32(z) + w.bias);
    out[r] = 1 / (1 + Math.exp(-logit));
  }
  return out;
}
