/**
 * One interface over the inference engines. A model is run in parts (see
 * training/export.py): shallow (image -> 1/8 features), deep (1/8 -> 1/32
 * features), head (both -> class scores at 1/8), labels (scores -> class ids
 * at any size: src/upsample.ts for both engines). Tensors are engine-owned handles; `release()` frees one, and
 * `dispose()` frees the engine. Every tensor an engine returns has exactly one
 * owner: whoever called the method that produced it.
 */
export interface Tensor4 {
  /** [1, C, H, W] */
  readonly dims: readonly [number, number, number, number];
}

export interface SegEngine {
  readonly name: 'onnx' | 'tfjs';
  /** What actually runs the math ('cpu', 'cuda', 'wasm', 'tensorflow'...). */
  readonly backend: string;
  /** `image` is normalised float32 NCHW [1,3,h,w]. */
  shallow(image: Float32Array, h: number, w: number): Promise<Tensor4>;
  deep(high: Tensor4): Promise<Tensor4>;
  head(high: Tensor4, low: Tensor4): Promise<Tensor4>;
  /**
   * The temporal fuser (a ConvGRU or ConvLSTM at 1/32): the next state from
   * the current shallow features and the previous state. Undefined when the
   * model has no fuser (manifest `parts.fuser`). The gru cell's state is the
   * deep features themselves; the lstm cell's is [h, c] on channels (2C), made
   * on a key frame by `fuserState` and read by the head through `fuserFeatures`.
   */
  readonly fuse?: ((high: Tensor4, state: Tensor4) => Promise<Tensor4>) | undefined;
  /** The loaded fuser's cell (undefined without a fuser). */
  readonly fuserCell?: FuserCell | undefined;
  /** lstm: a key frame's fuser state [low, 0] (a new tensor; `low` stays the caller's). */
  fuserState(low: Tensor4): Tensor4;
  /** lstm: the deep features h the head reads, the first half of a state's channels (a new tensor). */
  fuserFeatures(state: Tensor4): Tensor4;
  /** Bilinear upsample of scores to h x w, then argmax over classes. */
  labels(scores: Tensor4, h: number, w: number): Promise<Uint8Array>;
  /** Copy a tensor's values out (channel-major). */
  read(t: Tensor4): Promise<Float32Array>;
  /** Wrap values (e.g. fused scores) as an engine tensor. */
  wrap(data: Float32Array, dims: readonly [number, number, number, number]): Tensor4;
  release(t: Tensor4 | undefined): void;
  /** Live native tensors (for leak tests); -1 when the engine cannot tell. */
  liveTensors(): number;
  dispose(): Promise<void>;
}

export type FuserCell = 'gru' | 'lstm';

/** Which temporal fuser an engine loads (model.ts `resolveFuser`). */
export interface FuserPart {
  readonly cell: FuserCell;
  /** The ONNX file (inputs high, state; output next). */
  readonly onnx: string;
  /** Its TF.js weights (convs fuser.*); undefined: they are in the model's own weights file. */
  readonly tfjsWeights?: string | undefined;
}

export interface EngineOptions {
  /** Intra-op threads (0 = all cores). */
  readonly threads?: number;
  /** The temporal fuser to load; undefined: none. */
  readonly fuser?: FuserPart | undefined;
}
