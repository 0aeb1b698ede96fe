// YOLOv8-style detector arithmetic: letterboxing (Ultralytics' LetterBox, reproduced so
// boxes map back exactly), output decoding for [1, 4+C, N] and class-aware NMS.
//
// `decodeYoloOutput` and `hwcToChw` are self-contained (no imports, no closures): the
// detector worker evaluates their source text, so the code tested here is the code
// that runs there.

export interface Letterbox {
  /** Scale from source pixels to model pixels. */
  scale: number;
  /** Size of the resized image inside the model input. */
  width: number;
  height: number;
  padLeft: number;
  padTop: number;
  padRight: number;
  padBottom: number;
}

/** Where a `srcW`×`srcH` image lands in a `dstW`×`dstH` input, aspect kept, padding split evenly. */
export function letterbox(srcW: number, srcH: number, dstW: number, dstH: number): Letterbox {
  const scale = Math.min(dstW / srcW, dstH / srcH);
  const width = Math.max(1, Math.min(dstW, Math.round(srcW * scale)));
  const height = Math.max(1, Math.min(dstH, Math.round(srcH * scale)));
  const dw = (dstW - width) / 2;
  const dh = (dstH - height) / 2;
  // Ultralytics rounds (d - 0.1) and (d + 0.1), so an odd padding puts the extra pixel after.
  const padTop = Math.max(0, Math.round(dh - 0.1));
  const padLeft = Math.max(0, Math.round(dw - 0.1));
  return { scale, width, height, padLeft, padTop, padRight: dstW - width - padLeft, padBottom: dstH - height - padTop };
}

/** A box in model-input pixels back to source pixels, clipped to the source image. */
export function unletterboxBox(box: readonly number[], lb: Letterbox, srcW: number, srcH: number): [number, number, number, number] {
  const clip = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  return [
    clip((box[0]! - lb.padLeft) / lb.scale, srcW),
    clip((box[1]! - lb.padTop) / lb.scale, srcH),
    clip((box[2]! - lb.padLeft) / lb.scale, srcW),
    clip((box[3]! - lb.padTop) / lb.scale, srcH),
  ];
}

export interface RawDetection {
  cls: number;
  confidence: number;
  /** x1, y1, x2, y2 in model-input pixels. */
  box: [number, number, number, number];
}

export interface DecodeOptions {
  numClasses: number;
  anchors: number;
  confidence: number;
  iou: number;
  maxDetections: number;
  /** Class indices whose best score over all anchors is reported as `person`. */
  personClasses: number[];
  weaponClasses: number[];
}

export interface Decoded {
  detections: RawDetection[];
  /** Highest person-class score over every anchor (0..1), thresholded or not. */
  person: number;
  weapon: number;
}

/**
 * Decodes a YOLOv8 head, `data` laid out as [1, 4 + C, N]: rows 0..3 are cx, cy, w, h,
 * rows 4.. the class scores (already sigmoid'ed), N anchors per row. Keeps each anchor's
 * best class at or above `confidence`, then class-aware greedy NMS.
 */
export function decodeYoloOutput(data: Float32Array, o: DecodeOptions): Decoded {
  const N = o.anchors;
  const C = o.numClasses;
  if (data.length !== (4 + C) * N) {
    throw new Error('output has ' + data.length + ' values; expected (4 + ' + C + ') x ' + N);
  }
  let person = 0;
  let weapon = 0;
  const candidates: { cls: number; confidence: number; box: [number, number, number, number] }[] = [];
  for (let i = 0; i < N; i++) {
    let best = -1;
    let bestScore = -Infinity;
    for (let c = 0; c < C; c++) {
      const s = data[(4 + c) * N + i]!;
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    for (let k = 0; k < o.personClasses.length; k++) {
      const s = data[(4 + o.personClasses[k]!) * N + i]!;
      if (s > person) person = s;
    }
    for (let k = 0; k < o.weaponClasses.length; k++) {
      const s = data[(4 + o.weaponClasses[k]!) * N + i]!;
      if (s > weapon) weapon = s;
    }
    if (bestScore < o.confidence) continue;
    const cx = data[i]!;
    const cy = data[N + i]!;
    const w = data[2 * N + i]!;
    const h = data[3 * N + i]!;
    candidates.push({ cls: best, confidence: bestScore, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  candidates.sort((a, b) => b.confidence - a.confidence);
  if (candidates.length > 30000) candidates.length = 30000;
  const iou = (a: number[], b: number[]) => {
    const ix = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
    const iy = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
    const inter = ix * iy;
    const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
    return union > 0 ? inter / union : 0;
  };
  const kept: RawDetection[] = [];
  for (const cand of candidates) {
    if (kept.length >= o.maxDetections) break;
    let suppressed = false;
    for (const k of kept) {
      if (k.cls === cand.cls && iou(k.box, cand.box) > o.iou) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(cand);
  }
  return { detections: kept, person: Math.min(1, Math.max(0, person)), weapon: Math.min(1, Math.max(0, weapon)) };
}

/** Interleaved RGB bytes (H×W×3) to a planar float tensor (3×H×W) scaled to 0..1. */
export function hwcToChw(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0, j = 0; p < plane; p++, j += 3) {
    out[p] = rgb[j]! / 255;
    out[plane + p] = rgb[j + 1]! / 255;
    out[2 * plane + p] = rgb[j + 2]! / 255;
  }
  return out;
}
