/**
 * What flows along graph edges.
 *
 * Every packet carries the name of the source it came from, a sequence number
 * (per source, starting at 0, never reused) and a media timestamp. The first
 * packet after a seek, reconnect or new file carries `discontinuity`; stateful
 * nodes reset when they see it. Packets are immutable once emitted: fan-out
 * shares the same object (and the same pixel buffer), it never copies.
 */
export interface PacketMeta {
  readonly source: string;
  readonly seq: number;
  readonly ptsMs: number;
  /** Set on the first packet after a break in continuity (reason: 'start', 'reconnect', 'new-file', ...). */
  readonly discontinuity?: string | undefined;
}

/** An RGB24 image, row-major, `width * height * 3` bytes. */
export interface Frame extends PacketMeta {
  readonly kind: 'frame';
  readonly width: number;
  readonly height: number;
  /** RGB24 (w x h x 3 bytes) unless `format` says otherwise. */
  readonly data: Uint8Array;
  /**
   * `yuv420p`: planar Y, U, V (w x h, then w/2 x h/2 twice; w and h even), limited range, in
   * `matrix`'s coefficients (src/kernels/yuv.ts) — a decoder's `pixelFormat: yuv420p`, for graphs
   * whose frames only go to a downsampler, an overlay and an encoder. Absent: RGB24.
   */
  readonly format?: 'yuv420p' | undefined;
  /** A yuv420p frame's colour coefficients (the video's). */
  readonly matrix?: 'bt601' | 'bt709' | undefined;
  /** The source's nominal frame rate, when it knows one (a file's); live sources leave it out. */
  readonly fps?: number | undefined;
  /** The size of the video this frame shows, when the decoder scaled it down (a preview); absent: width x height. */
  readonly videoWidth?: number | undefined;
  readonly videoHeight?: number | undefined;
  /** The source's frames are not `1 / fps` apart (a variable-frame-rate file): `ptsMs` is each frame's own time, `fps` the average. */
  readonly vfr?: boolean | undefined;
  /** The keyframe-scheduler's mark: what the segmenter does with this frame (absent: the segmenter decides itself). */
  readonly key?: KeyMark | undefined;
}

/** Why a frame is or is not a key frame (keyframe-scheduler). */
export type KeyReason = 'discontinuity' | 'interval' | 'change' | 'between';

/**
 * A frame marked by the keyframe-scheduler. A key frame runs the whole network;
 * a non-key frame takes `path`: `shallow` (the shallow branch with the last key
 * frame's deep features), `fuse` (the shallow branch, its features handed to a
 * temporal-fuser) or `propagate` (no network: label-propagation carries labels).
 */
export interface KeyMark {
  readonly key: boolean;
  readonly reason: KeyReason;
  /** Non-key frames' path (key frames: `full`). */
  readonly path: 'full' | 'shallow' | 'fuse' | 'propagate';
  /** Mean absolute gray change against the last key frame (0..255), when the adaptive rule measured it. */
  readonly change?: number | undefined;
  /** The scheduler's interval (key frames at least every N frames): the segmenter's `tta: auto` resolves from it. */
  readonly intervalFrames: number;
}

/** How a label map was produced, for counting and benchmarks. */
/** How a frame's labels were made: the whole network (key frame), the shallow branch with the
 * key frame's deep features, the shallow branch with the temporal fuser's state, or motion. */
export type LabelPath = 'full' | 'shallow' | 'fused' | 'propagated';

/** Class scores (logits) at reduced resolution, channel-major [C,H,W]. */
export interface ScoreMap {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly data: Float32Array;
}

/** Per-pixel class ids. */
export interface Labels extends PacketMeta {
  readonly kind: 'labels';
  readonly width: number;
  readonly height: number;
  readonly classes: Uint8Array;
  readonly classNames: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
  readonly path: LabelPath;
  readonly scores?: ScoreMap | undefined;
}

/**
 * An opaque handle to one frame's features, held by the executor (worker
 * thread) that made them: valid only there, so a `features` edge never
 * crosses executors (the loader refuses one). Its maker frees it.
 */
export interface FeatureHandle {
  /** The thread that made it (worker_threads threadId; 0 = the main thread). */
  readonly threadId: number;
  /** Made from a key frame (deep features present). */
  readonly key: boolean;
}

/** A frame's network features (two-branch-segmenter `features` → temporal-fuser). */
export interface Features extends PacketMeta {
  readonly kind: 'features';
  /** The frame's size: labels made from these features come out at this size. */
  readonly width: number;
  readonly height: number;
  readonly handle: FeatureHandle;
}

export type Packet = Frame | Labels | Features;

export type PortKind = Packet['kind'];

/** The packet type a port of kind `K` carries (`PacketOf<'frame'>` is `Frame`). */
export type PacketOf<K extends PortKind> = Extract<Packet, { readonly kind: K }>;

/** Same packet, marked as the first after a discontinuity (used when a queue drops the marked one). */
export function withDiscontinuity<T extends PacketMeta>(p: T, reason: string): T {
  return Object.freeze({ ...p, discontinuity: reason });
}

/** Whether two label maps' class names are the same list (by value: labels from a thread or a socket carry new arrays). */
export function sameClassNames(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
}

