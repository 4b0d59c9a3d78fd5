/**
 * Raw RGB24 (or yuv420p) frames with their timestamps, as a Matroska stream ffmpeg reads
 * from a pipe (`-f matroska -i pipe:0`): the encoder's input for a
 * variable-frame-rate video, whose frames a raw pipe (`-f rawvideo -r N`)
 * would place at one constant rate. The header declares one track,
 * `V_UNCOMPRESSED` with ColourSpace `RGB\x18` (ffmpeg's tag for rgb24), and a
 * time scale of 0.1 ms; each frame is one Cluster holding one SimpleBlock, so
 * a frame costs about 40 bytes of header and no copy of its pixels (the header and
 * the pixels are two writes).
 *
 * ```ts
 * writer.write(mkvHeader(960, 540));
 * const h = mkvFrameHeader(ptsMs, frame.data.length); writer.write(h); writer.write(frame.data);
 * ```
 */

/** Timestamps are in ticks of this many ns (0.1 ms: ffmpeg reads the stream with time base 1/10000). */
export const MKV_TICK_NS = 100_000;

/** An element size as an 8-byte EBML variable-length integer. */
function size8(n: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x01;
  let v = n;
  for (let i = 7; i >= 1; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return b;
}

function uint(n: number): Buffer {
  const a: number[] = [];
  let v = n;
  do {
    a.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return Buffer.from(a);
}

function el(id: readonly number[], data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(id), size8(data.length), data]);
}

/** The stream's start: EBML header, a Segment of unknown size, Info and the one video track. */
export function mkvHeader(width: number, height: number, format: 'rgb24' | 'yuv420p' = 'rgb24'): Buffer {
  // ColourSpace: ffmpeg's raw-video tags, `RGB\x18` for rgb24 and `I420` for yuv420p.
  const fourcc = format === 'yuv420p' ? Buffer.from('I420') : Buffer.from([0x52, 0x47, 0x42, 24]);
  return Buffer.concat([
    el([0x1a, 0x45, 0xdf, 0xa3], Buffer.concat([
      el([0x42, 0x86], uint(1)), el([0x42, 0xf7], uint(1)), el([0x42, 0xf2], uint(4)), el([0x42, 0xf3], uint(8)),
      el([0x42, 0x82], Buffer.from('matroska')), el([0x42, 0x87], uint(4)), el([0x42, 0x85], uint(2)),
    ])),
    Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // Segment, size unknown
    el([0x15, 0x49, 0xa9, 0x66], Buffer.concat([el([0x2a, 0xd7, 0xb1], uint(MKV_TICK_NS)), el([0x4d, 0x80], Buffer.from('segflow')), el([0x57, 0x41], Buffer.from('segflow'))])),
    el([0x16, 0x54, 0xae, 0x6b], el([0xae], Buffer.concat([
      el([0xd7], uint(1)), el([0x73, 0xc5], uint(1)), el([0x83], uint(1)), el([0x86], Buffer.from('V_UNCOMPRESSED')),
      el([0xe0], Buffer.concat([el([0xb0], uint(width)), el([0xba], uint(height)), el([0x2e, 0xb5, 0x24], fourcc)])),
    ]))),
  ]);
}

/** What goes before a frame's `bytes` pixels: a Cluster at `ptsMs` (≥ 0) holding one key-frame SimpleBlock. */
export function mkvFrameHeader(ptsMs: number, bytes: number): Buffer {
  const ts = el([0xe7], uint(Math.max(0, Math.round((ptsMs * 1e6) / MKV_TICK_NS))));
  const block = Buffer.concat([Buffer.from([0xa3]), size8(4 + bytes), Buffer.from([0x81, 0, 0, 0x80])]);
  return Buffer.concat([Buffer.from([0x1f, 0x43, 0xb6, 0x75]), size8(ts.length + block.length + bytes), ts, block]);
}
