import test from 'ava';
import fc from 'fast-check';
import {
  decodeClassIds, decodeMessage, encodeClassIds, encodeMessage, Encoding, Flags, HEADER_BYTES, MsgType, rleDecode, rleEncode, stampSendTime,
} from '../src/codecs/ws-protocol.ts';

test('websocket-sink › binary format round-trips', (t) => {
  // A mask with long runs (RLE wins), including runs longer than 127 and 16383 (multi-byte LEB128).
  const w = 480;
  const h = 272;
  const ids = new Uint8Array(w * h);
  ids.fill(3, 0, 20_000);
  ids.fill(7, 20_000, 20_200);
  for (let i = 20_200; i < ids.length; i++) ids[i] = Math.floor((i % w) / 60);
  const { encoding, payload } = encodeClassIds(ids);
  t.is(encoding, Encoding.rle);
  t.true(payload.length < ids.length / 20, `RLE ${payload.length} bytes for ${ids.length} pixels`);
  const header = { type: MsgType.labels, flags: Flags.discontinuity | Flags.keyframe, encoding, seq: 2 ** 40 + 5, ptsMs: 1234.5, captureTimeMs: 1.7e12 + 0.25, sendTimeMs: 1.7e12 + 9.5, width: w, height: h };
  const msg = encodeMessage(header, payload);
  t.is(msg.length, HEADER_BYTES + payload.length);
  t.is(msg.subarray(0, 4).toString('latin1'), 'SGFL');
  const m = decodeMessage(msg);
  t.like(m, { ...header, version: 1 });
  t.deepEqual(decodeClassIds(m), ids);

  // Unknown capture time travels as NaN; the send time can be restamped in place.
  const j = encodeMessage({ ...header, type: MsgType.jpeg, encoding: Encoding.jpeg, flags: 0, captureTimeMs: NaN }, new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
  stampSendTime(j, 42);
  const jm = decodeMessage(j);
  t.true(Number.isNaN(jm.captureTimeMs));
  t.is(jm.sendTimeMs, 42);
  t.deepEqual([...jm.payload], [0xff, 0xd8, 0xff, 0xd9]);

  // Noise does not compress: sent raw.
  const noise = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) % 11);
  const raw = encodeClassIds(noise);
  t.is(raw.encoding, Encoding.raw);
  t.deepEqual(decodeClassIds(decodeMessage(encodeMessage({ ...header, encoding: raw.encoding, width: 40, height: 25 }, raw.payload))), noise);
});

test('websocket-sink › RLE round-trips any mask (property)', (t) => {
  fc.assert(fc.property(
    fc.array(fc.record({ c: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 40_000 }) }), { minLength: 0, maxLength: 30 }),
    (runs) => {
      const total = runs.reduce((s, r) => s + r.n, 0);
      const ids = new Uint8Array(total);
      let o = 0;
      for (const r of runs) ids.fill(r.c, o, (o += r.n));
      const back = rleDecode(rleEncode(ids), total);
      return back.length === ids.length && back.every((v, i) => v === ids[i]);
    },
  ), { numRuns: 200 });
  t.pass();
});

test('websocket-sink › malformed messages are refused with expected/got', (t) => {
  const ok = encodeMessage({ type: MsgType.labels, flags: 0, encoding: Encoding.raw, seq: 1, ptsMs: 0, captureTimeMs: NaN, sendTimeMs: 0, width: 2, height: 2 }, new Uint8Array(4));
  t.throws(() => decodeMessage(ok.subarray(0, 10)), { message: /expected at least 48 bytes, got 10/ });
  const badMagic = Buffer.from(ok);
  badMagic[0] = 0;
  t.throws(() => decodeMessage(badMagic), { message: /expected magic 'SGFL'/ });
  const badVersion = Buffer.from(ok);
  badVersion[4] = 9;
  t.throws(() => decodeMessage(badVersion), { message: /expected protocol version 1, got 9/ });
  t.throws(() => decodeMessage(ok.subarray(0, ok.length - 1)), { message: /header says 4 payload bytes, got 3/ });
  t.throws(() => rleDecode(new Uint8Array([1, 3]), 4), { message: /adding up to 4 pixels, got 3/ });
  t.throws(() => rleDecode(new Uint8Array([1, 0x85]), 4), { message: /cut off/ });
  t.throws(() => encodeMessage({ type: MsgType.labels, flags: 0, encoding: Encoding.raw, seq: 1, ptsMs: 0, captureTimeMs: NaN, sendTimeMs: 0, width: 70_000, height: 1 }, new Uint8Array(0)), { message: /at most 65535x65535, got 70000x1/ });
});
