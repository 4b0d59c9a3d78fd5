/**
 * The websocket-sink's per-frame encoding as a plain async function: one
 * label map (and optionally its frame) → the group of binary messages a
 * subscriber receives for it (docs/websocket-protocol.md): the frame first,
 * as a JPEG at `jpegQuality` (sharp, loaded on the first frame), then the
 * class ids (raw or run-length encoded, whichever is smaller:
 * encodeClassIds). Both messages carry the label map's discontinuity flag and
 * the keyframe flag (path `full`), their packet's seq, time and size, the
 * capture time (NaN when unknown) and the send time read from `now` as each
 * message is made. Nothing here touches a socket.
 *
 * ```ts
 * const { group, sendTimeMs } = await encodeLabelsGroup(labels, frame, { jpegQuality: 75, captureTimeMs: NaN });
 * ```
 */
import { epochNowMs } from '../core/live-clock.ts';
import type { Frame, Labels } from '../core/packet.ts';
import { Encoding, Flags, MsgType, encodeClassIds, encodeMessage } from './ws-protocol.ts';

export interface GroupOptions {
  /** JPEG quality of the frame, 1..100. */
  readonly jpegQuality: number;
  /** Wall-clock ms the frame was received by a live source; NaN when unknown. */
  readonly captureTimeMs: number;
  /** The send-time clock (epoch ms). @default epochNowMs */
  readonly now?: () => number;
}

/** The messages for one label map (its frame's JPEG first, when given) and the labels message's send time. */
export async function encodeLabelsGroup(l: Labels, f: Frame | undefined, o: GroupOptions): Promise<{ group: Buffer[]; sendTimeMs: number }> {
  const now = o.now ?? epochNowMs;
  const capture = o.captureTimeMs;
  const flags = (l.discontinuity ? Flags.discontinuity : 0) | (l.path === 'full' ? Flags.keyframe : 0);
  const group: Buffer[] = [];
  if (f) {
    const sharp = await loadSharp();
    const jpeg = await sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } }).jpeg({ quality: o.jpegQuality }).toBuffer();
    group.push(encodeMessage({ type: MsgType.jpeg, flags, encoding: Encoding.jpeg, seq: f.seq, ptsMs: f.ptsMs, captureTimeMs: capture, sendTimeMs: now(), width: f.width, height: f.height }, jpeg));
  }
  const { encoding, payload } = encodeClassIds(l.classes);
  const sendTimeMs = now();
  group.push(encodeMessage({ type: MsgType.labels, flags, encoding, seq: l.seq, ptsMs: l.ptsMs, captureTimeMs: capture, sendTimeMs, width: l.width, height: l.height }, payload));
  return { group, sendTimeMs };
}

type Sharp = typeof import('sharp').default;
let sharpModule: Promise<Sharp> | undefined;
/** sharp (libvips) is loaded on the first JPEG, so graphs without video never load it. */
function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}
