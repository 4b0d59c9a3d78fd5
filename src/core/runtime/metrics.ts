/**
 * Run metrics: per node frames, fps and latency percentiles; per edge queue
 * depth and drops; free-form counters and gauges for nodes (reconnects,
 * connected). Rendered as a summary table and as Prometheus text.
 */
import type { EdgeQueue } from './queue.ts';

const WINDOW = 2048;

export class NodeStats {
  frames = 0;
  firstAt = 0;
  lastAt = 0;
  private readonly lat = new Float64Array(WINDOW);
  private n = 0;
  constructor(readonly name: string, readonly type: string) {}

  /** One packet processed, taking `ms` milliseconds. */
  observe(ms: number): void {
    const now = performance.now();
    if (this.frames === 0) this.firstAt = now - ms;
    this.lastAt = now;
    this.frames++;
    this.lat[this.n++ % WINDOW] = ms;
  }

  get fps(): number {
    const s = (this.lastAt - this.firstAt) / 1000;
    return s > 0 ? this.frames / s : 0;
  }

  percentile(p: number): number {
    const k = Math.min(this.n, WINDOW);
    if (k === 0) return 0;
    const a = Array.from(this.lat.subarray(0, k)).sort((x, y) => x - y);
    return a[Math.min(k - 1, Math.floor((p / 100) * k))] ?? 0;
  }
}

export class Metrics {
  readonly nodes = new Map<string, NodeStats>();
  readonly edges = new Map<string, EdgeQueue>();
  /** name -> labels -> value */
  readonly counters = new Map<string, Map<string, number>>();
  readonly gauges = new Map<string, Map<string, number>>();
  private readonly help = new Map<string, string>();

  node(name: string, type = ''): NodeStats {
    let s = this.nodes.get(name);
    if (!s) this.nodes.set(name, (s = new NodeStats(name, type)));
    return s;
  }

  edge(q: EdgeQueue): EdgeQueue {
    this.edges.set(q.name, q);
    return q;
  }

  /** Increment counter `name` (Prometheus name without the segflow_ prefix). */
  count(name: string, labels: Record<string, string>, by = 1, help = ''): void {
    const key = labelKey(labels);
    const m = this.counters.get(name) ?? new Map<string, number>();
    m.set(key, (m.get(key) ?? 0) + by);
    this.counters.set(name, m);
    if (help) this.help.set(name, help);
  }

  gauge(name: string, labels: Record<string, string>, value: number, help = ''): void {
    const m = this.gauges.get(name) ?? new Map<string, number>();
    m.set(labelKey(labels), value);
    this.gauges.set(name, m);
    if (help) this.help.set(name, help);
  }

  /** Prometheus text exposition format 0.0.4. */
  prometheus(): string {
    const out: string[] = [];
    const fam = (name: string, type: string, help: string, rows: [string, number][]) => {
      out.push(`# HELP segflow_${name} ${help}`, `# TYPE segflow_${name} ${type}`);
      for (const [l, v] of rows) out.push(`segflow_${name}${l} ${Number.isFinite(v) ? v : 0}`);
    };
    const ns = [...this.nodes.values()];
    fam('node_frames_total', 'counter', 'Packets processed by a node.', ns.map((n) => [labelKey({ node: n.name, type: n.type }), n.frames]));
    fam('node_fps', 'gauge', 'Packets per second through a node since its first packet.', ns.map((n) => [labelKey({ node: n.name }), round(n.fps)]));
    fam('node_latency_ms', 'gauge', 'Per-packet processing time (recent window).', ns.flatMap((n) => [
      [labelKey({ node: n.name, quantile: '0.5' }), round(n.percentile(50))],
      [labelKey({ node: n.name, quantile: '0.99' }), round(n.percentile(99))],
    ] as [string, number][]));
    const es = [...this.edges.values()];
    fam('edge_queue_depth', 'gauge', 'Packets waiting on an edge.', es.map((e) => [labelKey({ edge: e.name }), e.depth]));
    fam('edge_drops_total', 'counter', 'Packets dropped by a freshest-frame edge.', es.map((e) => [labelKey({ edge: e.name }), e.drops]));
    for (const [name, m] of this.counters) fam(name, 'counter', this.help.get(name) ?? name, [...m]);
    for (const [name, m] of this.gauges) fam(name, 'gauge', this.help.get(name) ?? name, [...m]);
    return out.join('\n') + '\n';
  }

  /** Human summary table. */
  table(): string {
    const rows: string[][] = [['node', 'type', 'frames', 'fps', 'p50 ms', 'p99 ms']];
    for (const n of this.nodes.values()) {
      rows.push([n.name, n.type, String(n.frames), n.fps.toFixed(1), n.percentile(50).toFixed(2), n.percentile(99).toFixed(2)]);
    }
    const erows: string[][] = [['edge', 'policy', 'max depth', 'drops']];
    for (const e of this.edges.values()) {
      erows.push([e.name, e.policy.policy + (e.policy.policy === 'freshest' ? `(${e.policy.size})` : ''), String(e.maxDepth), String(e.drops)]);
    }
    return formatTable(rows) + '\n' + formatTable(erows);
  }

  toJSON(): object {
    return {
      nodes: Object.fromEntries([...this.nodes.values()].map((n) => [n.name, { type: n.type, frames: n.frames, fps: round(n.fps), p50Ms: round(n.percentile(50)), p99Ms: round(n.percentile(99)) }])),
      edges: Object.fromEntries([...this.edges.values()].map((e) => [e.name, { policy: e.policy.policy, maxDepth: e.maxDepth, drops: e.drops }])),
      counters: Object.fromEntries([...this.counters].map(([k, m]) => [k, Object.fromEntries(m)])),
    };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Label sets seen (their names and values joined raw) → their exposition key: counters run per packet. */
const keys = new Map<string, string>();

function labelKey(labels: Record<string, string>): string {
  let raw = '';
  for (const k in labels) raw += k + '\u0000' + labels[k] + '\u0001';
  let key = keys.get(raw);
  if (key === undefined) {
    if (keys.size >= 10_000) keys.clear(); // label sets from data (stream names): bounded
    keys.set(raw, (key = formatLabels(labels)));
  }
  return key;
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export function formatTable(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r, j) => {
    const line = r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
    return j === 0 ? line + '\n' + w.map((x) => '-'.repeat(x)).join('  ') : line;
  }).join('\n');
}
