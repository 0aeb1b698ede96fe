// npm run make:tiny-detector [-- --out DIR --size 64 --stride 8 --heavy 0]
// Writes tiny-detector.onnx and tiny-detector.txt (labels): a detector with the exact
// YOLOv8 signature ([1,3,S,S] in, [1,4+C,N] out) that finds coloured squares. For tests
// and benches; a real site exports yolov8n.onnx (see README, "Image model").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildTinyDetector } from '../tools/tiny-detector.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'models' },
    size: { type: 'string', default: '64' },
    stride: { type: 'string', default: '8' },
    heavy: { type: 'string', default: '0' },
    name: { type: 'string', default: 'tiny-detector' },
  },
});
const out = resolve(values.out!);
mkdirSync(out, { recursive: true });
const model = buildTinyDetector({ size: Number(values.size), stride: Number(values.stride), heavyLayers: Number(values.heavy) });
const onnxPath = join(out, `${values.name}.onnx`);
writeFileSync(onnxPath, model.onnx);
writeFileSync(join(out, `${values.name}.txt`), model.labels.join('\n') + '\n');
console.log(`wrote ${onnxPath} (${model.onnx.length} bytes): input [1,3,${model.size},${model.size}], output [1,${4 + model.labels.length},${model.anchors}], labels ${model.labels.join(', ')}`);
