// Building blocks shared by the tools that write ONNX graphs (the trainer's re-scorer, the
// tiny test detector), on the ONNX protobuf schema (onnx-proto).
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A float32 initializer; raw_data is little-endian IEEE 754, byte for byte reproducible. */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>) {
  const raw = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) raw.writeFloatLE(values[i]!, i * 4);
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw });
}

/** A float32 tensor type; a string dim is symbolic (e.g. 'batch'). */
export function tensorType(dims: (number | string)[]) {
  return onnx.TypeProto.create({
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  });
}

/** Deterministic pseudo-random weights in [-scale, scale] (xorshift32). */
export function noise(count: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 0xffffffff) * 2 - 1) * scale;
  }
  return out;
}
