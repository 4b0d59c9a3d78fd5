/**
 * FrameAssembler — cuts a byte stream of raw frames (ffmpeg `-f rawvideo` on
 * a pipe, which arrives in chunks of any size) into whole frames, each in a
 * buffer of its own that the caller may keep. Used by the decoder and the
 * RTSP source.
 */
import { uninitialisedBytes } from '../kernels/image.ts';

export class FrameAssembler {
  private cur: Uint8Array;
  private fill = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`FrameAssembler: frame size must be a positive integer, got ${frameBytes}`);
    this.cur = uninitialisedBytes(frameBytes);
  }

  /**
   * Take a chunk; `onFrame` is called with each frame it completes. When
   * `onFrame` returns false, the rest of the chunk is discarded (the caller
   * is stopping).
   */
  push(chunk: Uint8Array, onFrame: (data: Uint8Array) => boolean | void): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.fill, chunk.length - off);
      this.cur.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill < this.frameBytes) continue;
      const done = this.cur;
      this.cur = uninitialisedBytes(this.frameBytes); // filled whole before it is handed out
      this.fill = 0;
      if (onFrame(done) === false) return;
    }
  }

  /** Bytes of an incomplete frame held (a stream that ends here was cut mid-frame). */
  get partialBytes(): number {
    return this.fill;
  }
}
