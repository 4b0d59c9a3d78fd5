/**
 * `segflow subscribe URL`: a websocket-sink stream's label maps, one line a frame, for people and
 * for other programs (`--json`: one JSON object a line). Each line has the frame's seq and size,
 * whether the network ran on it (key frame) or its labels were carried, a reset, the share of the
 * picture each class covers, the send-to-receive latency and the frames this client missed.
 * `--frames N` stops after N frames; Ctrl-C stops (exit 130); the stream's end stops (exit 0);
 * a refused or broken connection is exit 1 with the reason. The token: `--token` or, kept out of
 * the process list, the environment's SEGFLOW_WS_TOKEN.
 */
import { subscribe, type MaskFrame } from '../net/ws/client.ts';

export interface SubscribeCliOptions {
  readonly url: string;
  readonly stream?: string | undefined;
  readonly token?: string | undefined;
  readonly frames?: number | undefined;
  readonly json?: boolean | undefined;
  readonly out?: NodeJS.WritableStream;
}

/** Share of the picture per class name (ids without a name: `class N`), largest first. */
export function classShares(f: MaskFrame): [string, number][] {
  const counts = new Uint32Array(256);
  for (let i = 0; i < f.classIds.length; i++) counts[f.classIds[i]!]!++;
  const out: [string, number][] = [];
  for (let id = 0; id < 256; id++) if (counts[id]) out.push([f.classes[id] ?? `class ${id}`, counts[id]! / f.classIds.length]);
  return out.sort((a, b) => b[1] - a[1]);
}

export async function runSubscribe(o: SubscribeCliOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let n = 0;
  try {
    for await (const f of subscribe(o.url, { stream: o.stream, token: o.token, signal: stop.signal })) {
      const latencyMs = Math.round((performance.timeOrigin + performance.now() - f.sendTimeMs) * 10) / 10;
      const shares = classShares(f);
      if (o.json) {
        out.write(JSON.stringify({ stream: f.stream, seq: f.seq, width: f.width, height: f.height, keyframe: f.keyframe, discontinuity: f.discontinuity, ptsMs: f.ptsMs, latencyMs, missed: f.missed, shares: Object.fromEntries(shares.map(([k, v]) => [k, Math.round(v * 1e4) / 1e4])) }) + '\n');
      } else {
        const top = shares.slice(0, 5).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ');
        out.write(`${f.stream} #${f.seq} ${f.width}x${f.height}${f.keyframe ? ' key' : ''}${f.discontinuity ? ' reset' : ''}: ${top} (${latencyMs} ms${f.missed ? `, ${f.missed} missed` : ''})\n`);
      }
      if (o.frames !== undefined && ++n >= o.frames) return 0;
    }
    return stop.signal.aborted ? 130 : 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
