// The rescorer's ONNX graph, written and read with the ONNX protobuf schema (onnx-proto):
//
//   features[N,F] ─Sub(mean)─Div(std)─MatMul(W[F,1])─Add(b[1])─Sigmoid─▶ probability[N,1]
//
// `encodeLogisticModel` is what the trainer exports; `decodeLogisticModel` reads the
// weights back out of any such file, for the TypeScript reference forward pass that the
// parity test compares against onnxruntime.
//
// With a `heavy` branch the same graph also runs a chain of size×size MatMuls seeded from
// the input and multiplied by zero into the logit: the same probabilities, but each run
// takes real CPU time, so a test gets a genuinely slow model with the shipped contract.
import onnxProto from 'onnx-proto';
import { floatTensor, noise, tensorType } from '../onnx-build.js';

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

/** A zero-weighted compute branch: `layers` MatMuls of a [size, size] activation. */
export interface HeavyBranch {
  layers: number;
  size: number;
}

/** Serialises a normalised logistic regression as an ONNX model (IR 8, opset 13). */
export function encodeLogisticModel(w: LogisticWeights, docString: string, producerVersion: string, heavy?: HeavyBranch): Uint8Array {
  const F = w.weights.length;
  const node = (opType: string, inputs: string[], output: string, attribute: InstanceType<typeof onnx.AttributeProto>[] = []) =>
    onnx.NodeProto.create({ opType, input: inputs, output: [output], attribute, name: `${opType.toLowerCase()}_${output}` });
  const nodes = [
    node('Sub', [INPUT_NAME, 'mean'], 'centred'),
    node('Div', ['centred', 'std'], 'normalised'),
    node('MatMul', ['normalised', 'W'], 'linear'),
    node('Add', ['linear', 'b'], 'logit'),
  ];
  const initializer = [
    floatTensor('mean', [F], w.mean),
    floatTensor('std', [F], w.std),
    floatTensor('W', [F, 1], w.weights),
    floatTensor('b', [1], new Float32Array([w.bias])),
  ];
  let logit = 'logit';
  if (heavy && heavy.layers > 0) {
    // Seeded from the input (0·sum), so onnxruntime cannot fold the chain into a constant
    // at load; Tanh keeps every value finite, so the final ·0 is exactly 0.
    const K = heavy.size;
    const keepdims0 = onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 });
    initializer.push(floatTensor('hzero', [], new Float32Array([0])), floatTensor('hM', [K, K], noise(K * K, 11, 2 / Math.sqrt(K))));
    nodes.push(node('ReduceSum', [INPUT_NAME], 'hsum', [keepdims0]), node('Mul', ['hsum', 'hzero'], 'hseed'), node('Add', ['hM', 'hseed'], 'h0'));
    for (let l = 0; l < heavy.layers; l++) {
      nodes.push(node('MatMul', [`h${l}`, 'hM'], `hm${l}`), node('Tanh', [`hm${l}`], `h${l + 1}`));
    }
    nodes.push(
      node('ReduceMean', [`h${heavy.layers}`], 'hmean', [keepdims0]),
      node('Mul', ['hmean', 'hzero'], 'hnothing'),
      node('Add', ['logit', 'hnothing'], 'heavy_logit'),
    );
    logit = 'heavy_logit';
  }
  nodes.push(node('Sigmoid', [logit], OUTPUT_NAME));
  const graph = onnx.GraphProto.create({
    name: 'safesphere_rescorer',
    node: nodes,
    initializer,
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
