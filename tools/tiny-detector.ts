// A tiny, deterministic YOLOv8-signature detector for tests and benches: input
// `images` float32 [1, 3, S, S], output `output0` float32 [1, 4 + C, N] with rows
// cx, cy, w, h (model pixels) then C sigmoid class scores, N = (S / stride)².
//
// It "detects" by colour, one candidate box per stride×stride cell: class 0 ("person")
// scores high where the cell is red, class 1 ("knife") where it is blue, class 2 ("car")
// where it is green. Letterbox grey (114) scores near 0 for every class. So a test can
// paint a red square at a known spot in a snapshot and expect a "person" box there.
//
// `heavyLayers` adds full-resolution 3×3 convolutions whose result is multiplied by zero
// and added to the output: the same answers, but a run that takes real CPU time (to
// measure that inference does not block the event loop).
import onnxProto from 'onnx-proto';
import { floatTensor, noise, tensorType } from './onnx-build.js';

const { onnx } = onnxProto;

export interface TinyDetectorOptions {
  size?: number;
  stride?: number;
  labels?: string[];
  heavyLayers?: number;
  heavyChannels?: number;
}

export const TINY_LABELS = ['person', 'knife', 'car'];

function int64Tensor(name: string, values: number[]) {
  const raw = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: raw });
}

const intsAttr = (name: string, ints: number[]) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
const intAttr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

export function buildTinyDetector(options: TinyDetectorOptions = {}): { onnx: Uint8Array; labels: string[]; size: number; anchors: number } {
  const size = options.size ?? 64;
  const stride = options.stride ?? 8;
  const labels = options.labels ?? TINY_LABELS;
  const C = labels.length;
  if (size % stride !== 0) throw new Error('size must be a multiple of stride');
  const cells = size / stride;
  const N = cells * cells;
  const rows = 4 + C;
  const area = stride * stride;

  // Conv weights [rows, 3, stride, stride]: rows 0..3 zero; class c reads its colour.
  // logit = 12·(mean(own) − mean(other two)) − 4.
  const w = new Float32Array(rows * 3 * area);
  const b = new Float32Array(rows);
  for (let c = 0; c < C; c++) {
    const own = [0, 2, 1][c % 3]!; // person: red, knife: blue, car: green
    for (let ch = 0; ch < 3; ch++) {
      const v = (ch === own ? 12 : -12) / area;
      for (let k = 0; k < area; k++) w[((4 + c) * 3 + ch) * area + k] = v;
    }
    b[4 + c] = -4;
  }
  // Added after the conv: each cell's centre and size as its box.
  const grid = new Float32Array(rows * N);
  for (let gy = 0; gy < cells; gy++) {
    for (let gx = 0; gx < cells; gx++) {
      const i = gy * cells + gx;
      grid[i] = (gx + 0.5) * stride;
      grid[N + i] = (gy + 0.5) * stride;
      grid[2 * N + i] = stride;
      grid[3 * N + i] = stride;
    }
  }

  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializer: InstanceType<typeof onnx.TensorProto>[] = [
    floatTensor('W', [rows, 3, stride, stride], w),
    floatTensor('B', [rows], b),
    floatTensor('grid', [1, rows, N], grid),
    int64Tensor('shape', [1, rows, N]),
    int64Tensor('split', [4, C]),
  ];
  const node = (opType: string, input: string[], output: string[], attribute: InstanceType<typeof onnx.AttributeProto>[] = []) =>
    nodes.push(onnx.NodeProto.create({ opType, input, output, attribute, name: `${opType.toLowerCase()}_${output[0]}` }));

  node('Conv', ['images', 'W', 'B'], ['cells'], [intsAttr('kernel_shape', [stride, stride]), intsAttr('strides', [stride, stride])]);
  node('Reshape', ['cells', 'shape'], ['flat']);
  node('Add', ['flat', 'grid'], ['placed']);
  node('Split', ['placed', 'split'], ['boxes', 'logits'], [intAttr('axis', 1)]);
  node('Sigmoid', ['logits'], ['scores']);
  let head = 'head';
  node('Concat', ['boxes', 'scores'], [head], [intAttr('axis', 1)]);

  const heavy = options.heavyLayers ?? 0;
  if (heavy > 0) {
    const ch = options.heavyChannels ?? 16;
    let x = 'images';
    let inCh = 3;
    for (let l = 0; l < heavy; l++) {
      initializer.push(floatTensor(`hw${l}`, [ch, inCh, 3, 3], noise(ch * inCh * 9, 7 + l, 0.2)));
      node('Conv', [x, `hw${l}`], [`hc${l}`], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])]);
      node('Relu', [`hc${l}`], [`hr${l}`]);
      x = `hr${l}`;
      inCh = ch;
    }
    initializer.push(floatTensor('zero', [1], [0]));
    node('ReduceMean', [x], ['hmean'], [intsAttr('axes', [1, 2, 3]), intAttr('keepdims', 0)]);
    node('Mul', ['hmean', 'zero'], ['hzero']);
    node('Add', [head, 'hzero'], ['output0']);
    head = 'output0';
  } else {
    // Rename the head: an Identity keeps the graph simple to read.
    node('Identity', [head], ['output0']);
  }

  const graph = onnx.GraphProto.create({
    name: 'tiny_yolov8_signature',
    node: nodes,
    initializer,
    input: [onnx.ValueInfoProto.create({ name: 'images', type: tensorType([1, 3, size, size]) })],
    output: [onnx.ValueInfoProto.create({ name: 'output0', type: tensorType([1, rows, N]) })],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'safesphere-edge make-tiny-detector',
    producerVersion: '1',
    domain: 'safesphere.edge',
    modelVersion: 1,
    docString: 'Tiny colour "detector" with the YOLOv8 output signature, for tests only.',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: [{ key: 'names', value: JSON.stringify(Object.fromEntries(labels.map((l, i) => [i, l]))) }],
    graph,
  });
  return { onnx: onnx.ModelProto.encode(model).finish(), labels, size, anchors: N };
}
