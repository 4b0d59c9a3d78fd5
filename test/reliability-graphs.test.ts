/**
 * reliability › graph files: hundreds of malformed graphs (fast-check) must each give a GraphError
 * with a one-line message naming the file — never another exception, a crash or a hang. Each parse
 * runs in a worker thread with a deadline, so a hang is caught and reported instead of stalling the
 * suite. A sample of ~20 goes through the real CLI (`segflow validate`): exit 2, one stderr line,
 * no stack trace.
 */
import test from 'ava';
import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parse as yamlParse, stringify } from 'yaml';
import type { z } from 'zod';
import { registry } from '../nodes/index.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { ROOT, segflow, tmpDir } from './helpers/cli.ts';

const FILE = 'fuzz/graph.yaml';
/**
 * Deadline for one parse. Most take milliseconds; the slowest (1 MB of blank lines, 90k keys) take
 * ~2 s, several times that on a loaded shared machine.
 */
const PER_CASE_MS = 30_000;
const MB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Parsing in a worker thread, with a deadline per case.

interface Outcome {
  kind: 'graph' | 'ok' | 'other' | 'hang';
  message: string;
  ms: number;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return Promise.all([import(workerData.loader), import(workerData.nodes), import(workerData.errors)]); }).then(([l, n, e]) => {
  parentPort.on('message', ({ id, text, file }) => {
    const t0 = performance.now();
    let r;
    try {
      l.parseGraph(text, file, n.registry);
      r = { kind: 'ok', message: '' };
    } catch (x) {
      r = x instanceof e.GraphError ? { kind: 'graph', message: x.message } : { kind: 'other', message: String((x && x.stack) || x) };
    }
    parentPort.postMessage({ id, ms: performance.now() - t0, ...r });
  });
  parentPort.postMessage({ ready: true });
}, (err) => parentPort.postMessage({ fatal: String((err && err.stack) || err) }));
`;

class Parser {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private id = 0;
  restarts = 0;

  private start(): Promise<void> {
    const url = (p: string) => pathToFileURL(path.join(ROOT, p)).href;
    const w = new Worker(WORKER, { eval: true, workerData: { tsx: import.meta.resolve('tsx/esm/api'), loader: url('src/core/graph/loader.ts'), nodes: url('nodes/index.ts'), errors: url('src/core/errors.ts') } });
    this.worker = w;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('parser worker did not start in 120 s')), 120_000);
      const on = (m: { ready?: boolean; fatal?: string }) => {
        clearTimeout(timer);
        if (m.ready) resolve();
        else if (m.fatal) reject(new Error(`parser worker failed to start: ${m.fatal}`));
        else return;
        w.off('message', on);
      };
      w.on('message', on);
      w.once('error', reject);
    });
  }

  async parse(text: string): Promise<Outcome> {
    this.ready ??= this.start();
    await this.ready;
    const w = this.worker!;
    const id = ++this.id;
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        w.off('message', on);
        this.restarts++;
        void w.terminate();
        this.ready = undefined;
        resolve({ kind: 'hang', message: `no answer in ${PER_CASE_MS} ms`, ms: PER_CASE_MS });
      }, PER_CASE_MS);
      const on = (m: Outcome & { id: number }) => {
        if (m.id !== id) return;
        clearTimeout(timer);
        w.off('message', on);
        resolve(m);
      };
      w.on('message', on);
      w.postMessage({ id, text, file: FILE });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** The contract: a GraphError, one line, naming the file, bounded in length and time. */
function breaks(o: Outcome, allowOk = false): string | undefined {
  if (o.kind === 'ok') return allowOk ? undefined : 'loaded without an error';
  if (o.kind !== 'graph') return `${o.kind}: ${o.message.slice(0, 600)}`;
  if (/[\r\n\u2028\u2029]/.test(o.message)) return `multi-line message: ${JSON.stringify(o.message.slice(0, 300))}`;
  if (!o.message.includes(FILE)) return `message does not name the file: ${o.message.slice(0, 300)}`;
  if (o.message.length > 1000) return `message of ${o.message.length} characters`;
  return undefined;
}

const show = (s: string) => JSON.stringify(s.length > 400 ? `${s.slice(0, 300)}…(${s.length} chars)…${s.slice(-60)}` : s);

// ---------------------------------------------------------------------------------------------
// Graphs.

type Obj = Record<string, unknown>;

/** A valid graph (checked below); every generator breaks it in one way. */
function baseGraph(): { version: unknown; nodes: Record<string, Obj>; [k: string]: unknown } {
  return {
    version: 1,
    nodes: {
      decode: { type: 'decoder', options: { path: 'a.mp4' } },
      small: { type: 'downsampler', options: { width: 160, height: 96 }, in: { frame: 'decode.frame' } },
      segment: { type: 'two-branch-segmenter', in: { frame: 'small.frame' } },
      overlay: { type: 'overlay', in: { frame: 'decode.frame', labels: 'segment.labels' } },
      video: { type: 'encoder', options: { path: 'out.mp4' }, in: { frame: 'overlay.frame' } },
      masks: { type: 'label-map-sink', options: { dir: 'labels' }, in: { labels: 'segment.labels' } },
      stats: { type: 'statistics-sink', options: { json: 'stats.json' }, in: { labels: 'segment.labels' } },
    },
  };
}
const NODE_NAMES = Object.keys(baseGraph().nodes);

/** The same graph in flow style, one node per line (for text-level damage). */
const FLOW = `version: 1
nodes:
  decode:  { type: decoder, options: { path: a.mp4 } }
  small:   { type: downsampler, options: { width: 160, height: 96 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, in: { frame: small.frame } }
  overlay: { type: overlay, in: { frame: decode.frame, labels: segment.labels } }
  video:   { type: encoder, options: { path: out.mp4 }, in: { frame: overlay.frame } }
  masks:   { type: label-map-sink, options: { dir: labels }, in: { labels: segment.labels } }
  stats:   { type: statistics-sink, options: { json: stats.json }, in: { labels: segment.labels } }
`;
const FLOW_LINES = FLOW.split('\n');
const NODE_LINES = [2, 3, 4, 5, 6, 7, 8];

const toYaml = (g: unknown, flow: boolean) => stringify(g, { collectionStyle: flow ? 'flow' : 'block', lineWidth: 0 });

/** Put a raw YAML literal where the marker string is. */
const MARK = 'XMARKX';
const withLiteral = (g: unknown, literal: string, flow = false) => toYaml(g, flow).replace(MARK, () => literal);

/** Absurd option values as YAML literals: negative, huge, NaN-ish, wrong types. */
const ABSURD = [
  '-1', '-0.5', '-1e9', '-0', '1e15', '1e300', '9007199254740993', '.nan', '.NaN', '.inf', '-.inf', '1e999', '-1e999',
  'NaN', 'nan', 'Infinity', '-Infinity', "'NaN'", '"12"', "'1e3'", '0x7fffffff', '0o777', '12px', '""', "' '", 'true', 'false',
  'null', '~', '[]', '{}', '[1, 2]', '{ a: 1 }', '!!str 5', '!!float 1', '2001-12-14', '"\\n"', '"a\\u0000b"', 'yes', 'on',
  '0.1e-400', '"${nope}"', '&x 5', '!!binary aGVsbG8=', '!!set { a }', '[[[[]]]]', '|\n      two\n      lines',
];
const literal = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ABSURD) },
  { weight: 1, arbitrary: fc.double().map((d) => toYaml(d, false).trim()) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }).map(String) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((s) => JSON.stringify(s)) },
);

function fields(type: string): Record<string, z.ZodType> {
  const shape = (registry.get(type)?.options as unknown as { shape?: Record<string, z.ZodType> }).shape;
  return shape ?? {};
}
const invalidFor = (schema: z.ZodType, lit: string) => {
  let v: unknown;
  try {
    v = yamlParse(`v: ${lit}`, { logLevel: 'silent' }).v;
  } catch {
    return true; // not even YAML: certainly invalid
  }
  return !schema.safeParse(v).success;
};

/** Strings that are not names of anything (node types, keys). */
const junk = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.constantFrom('Decoder', 'decoder ', 'two_branch_segmenter', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'a\nb', 'x'.repeat(5000), '', ' ', '\t', '\u2028', '😀', 'null', '0'),
);

/** Set a key, even '__proto__', as an own property. */
const put = (o: Obj, k: string, v: unknown) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

type Case = { cat: string; text: string; allowOk?: boolean };
const c = (cat: string) => (text: string): Case => ({ cat, text });

// 1. Broken YAML: damage that no YAML parser accepts.
const brokenYaml = fc
  .tuple(fc.constantFrom(...NODE_LINES), fc.integer({ min: 0, max: 7 }), fc.nat(200), fc.constantFrom('}', ']', ' }', '}}', ']]', ', }}'))
  .map(([line, how, pos, closer]) => {
    const L = [...FLOW_LINES];
    const l = L[line]!;
    const open = l.indexOf('{');
    switch (how) {
      case 0: L[line] = l.replace(/}\s*$/, ''); break; // unclosed flow mapping
      case 1: L[line] = '\t' + l.trimStart(); break; // tab indentation
      case 2: L.splice(line, 0, l); break; // duplicate key
      case 3: L[line] = l.replace(': {', ': "{'); break; // unterminated quote
      case 4: return FLOW.slice(0, FLOW.indexOf(l) + open + 1 + (pos % (l.length - open - 2))); // cut inside a flow mapping
      case 5: L[line] = l + ' ' + closer; break; // stray closer
      case 6: L[line] = l.replace(/^(\s+\w+):/, '$1: x:'); break; // nested compact mapping
      case 7: L[line] = l.replace(/^(\s+\w+):/, '$1: &a'); L.push('extra: *b'); break; // undefined alias
    }
    return L.join('\n');
  })
  .map(c('broken YAML'));

// 1b. Random damage to a good file (may still be valid: either loads or a GraphError).
const mutated = fc
  .tuple(fc.nat(FLOW.length - 1), fc.nat(20), fc.string({ unit: 'binary-ascii', maxLength: 4 }), fc.boolean())
  .map(([at, del, ins, block]) => {
    const src = block ? toYaml(baseGraph(), false) : FLOW;
    const i = at % src.length;
    return { cat: 'random damage', text: src.slice(0, i) + ins + src.slice(i + (del % 6)), allowOk: true };
  });

// 2. Unknown node types.
const unknownType = fc
  .tuple(fc.constantFrom(...NODE_NAMES), junk.filter((s) => !registry.has(s)), fc.boolean())
  .map(([n, type, flow]) => {
    const g = baseGraph();
    g.nodes[n]!.type = type;
    return toYaml(g, flow);
  })
  .map(c('unknown type'));

// 3. Wrong kinds and bad wiring.
const REFS = ['decode.frame', 'segment.labels', 'small.frame', 'overlay.frame', 'video.done', 'masks.done', 'decode.labels', 'segment.frame', 'nowhere.frame', 'decode', 'a.b.c', '.frame', 'decode.', 'decode. frame'];
const wrongKind = fc
  .tuple(fc.constantFrom(...NODE_NAMES.filter((n) => n !== 'decode')), fc.oneof(fc.constantFrom(...REFS), junk, fc.integer().map((i) => i as unknown), fc.constant([] as unknown), fc.constant({ a: 1 } as unknown)), fc.boolean(), fc.boolean())
  .map(([n, ref, extraPort, flow]) => {
    const g = baseGraph();
    const inp = g.nodes[n]!.in as Obj;
    const port = Object.keys(inp)[0]!;
    if (extraPort) inp[typeof ref === 'string' && ref ? ref : 'nope'] = 'decode.frame';
    else inp[port] = ref;
    return toYaml(g, flow);
  })
  .filter((text) => {
    try {
      parseGraph(text, FILE, registry);
      return false; // a rewiring that happens to be valid (e.g. small.frame into a frame port)
    } catch {
      return true;
    }
  })
  .map(c('wrong kind / wiring'));

// 4. Cycles: a ring of k downsamplers (k = 1 is a self-loop), optionally through the overlay.
const cycle = fc
  .tuple(fc.integer({ min: 1, max: 12 }), fc.boolean(), fc.boolean())
  .map(([k, viaOverlay, flow]) => {
    const g = baseGraph();
    for (let i = 0; i < k; i++) g.nodes[`ring${i}`] = { type: 'downsampler', in: { frame: `ring${(i + k - 1) % k}.frame` } };
    if (viaOverlay) {
      g.nodes.ring0!.in = { frame: 'overlay.frame' };
      (g.nodes.overlay!.in as Obj).frame = `ring${k - 1}.frame`;
    }
    return toYaml(g, flow);
  })
  .map(c('cycle'));

// 5. Absurd option values (negative, huge, NaN-ish strings, wrong types), checked to be invalid.
const badOption = fc
  .tuple(fc.constantFrom(...NODE_NAMES), fc.nat(), literal, fc.boolean())
  .map(([n, k, lit, flow]) => {
    const g = baseGraph();
    const node = g.nodes[n]!;
    const f = Object.entries(fields(node.type as string));
    const [key, schema] = f[k % f.length]!;
    node.options = { ...(node.options as Obj), [key]: MARK };
    return { text: withLiteral(g, lit.includes('\n') ? lit.replaceAll('\n      ', '\n' + ' '.repeat(flow ? 6 : 8)) : lit, flow && !lit.includes('\n')), ok: invalidFor(schema, lit), where: `${n}.${key}=${lit}` };
  })
  .filter((x) => x.ok)
  .map((x) => c('absurd option')(x.text));

// 5b. Any registry type, any of its options, an absurd value.
const anyTypeOption = fc
  .tuple(fc.constantFrom(...registry.keys()), fc.nat(), literal)
  .map(([type, k, lit]) => {
    const f = Object.entries(fields(type));
    if (!f.length) return { text: '', ok: false };
    const [key, schema] = f[k % f.length]!;
    const g = baseGraph();
    g.nodes.extra = { type, options: { [key]: MARK } };
    const L = lit.includes('\n') ? '"two\\nlines"' : lit;
    return { text: withLiteral(g, L), ok: invalidFor(schema, L) };
  })
  .filter((x) => x.ok)
  .map((x) => c('absurd option, any type')(x.text));

// 6. Missing required options, wrong shapes of nodes and sections.
const structure = fc
  .tuple(fc.integer({ min: 0, max: 13 }), fc.constantFrom(...NODE_NAMES), fc.boolean())
  .map(([how, n, flow]) => {
    const g = baseGraph() as Obj & { nodes: Record<string, Obj> };
    const node = g.nodes[n]!;
    switch (how) {
      case 0: delete (g.nodes.decode!.options as Obj).path; break;
      case 1: delete (g.nodes.video!.options as Obj).path; break;
      case 2: delete g.nodes.masks!.options; break;
      case 3: delete g.nodes.stats!.options; break;
      case 4: node.options = [1, 2]; break;
      case 5: node.options = 'path=a.mp4'; break;
      case 6: g.nodes[n] = ['decoder'] as unknown as Obj; break;
      case 7: g.nodes[n] = 'decoder' as unknown as Obj; break;
      case 8: delete node.type; break;
      case 9: g.nodes = [] as unknown as Record<string, Obj>; break;
      case 10: g.nodes = {}; break;
      case 11: delete (g as Obj).nodes; break;
      case 12: node.in = 'decode.frame'; break;
      case 13: g.nodes = { decode: g.nodes.decode!, v: { type: 'encoder', options: { path: 'o.mp4' } } }; break; // unwired sink input
    }
    return toYaml(g, flow);
  })
  .map(c('missing / wrong shape'));

// 7. Unknown keys at every level.
const unknownKey = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(...NODE_NAMES), junk, fc.boolean())
  .map(([level, n, key, flow]) => {
    const g = baseGraph() as Obj & { nodes: Record<string, Obj> };
    const node = g.nodes[n]!;
    const known = [['version', 'nodes', 'description', 'maxInFlight', 'vars'], ['type', 'options', 'in', 'queue'], Object.keys(fields(node.type as string)), ['policy', 'size']][level]!;
    const k = known.includes(key) ? key + '_x' : key;
    if (level === 0) put(g, k, 1);
    else if (level === 1) put(node, k, 1);
    else if (level === 2) node.options = { ...(node.options as Obj), [k]: 1 };
    else node.queue = { policy: 'lossless', [k]: 1 };
    return toYaml(g, flow);
  })
  .map(c('unknown key'));

// 8. Absurd top-level and queue values (null, like an absent key, means the default and is valid).
const topLevel = fc
  .tuple(fc.integer({ min: 0, max: 5 }), literal, fc.constantFrom(...NODE_NAMES))
  .map(([what, lit, n]) => {
    const g = baseGraph() as Obj & { nodes: Record<string, Obj> };
    const L = lit.includes('\n') ? '"a\\nb"' : lit;
    let parsed: unknown;
    try {
      parsed = yamlParse(`v: ${L}`, { logLevel: 'silent' }).v;
    } catch {
      parsed = Symbol('not YAML');
    }
    let valid = false;
    switch (what) {
      case 0: g.version = MARK; valid = parsed === 1; break;
      case 1: g.maxInFlight = MARK; valid = parsed === null || Number.isInteger(parsed) && (parsed as number) >= 1 && (parsed as number) <= 1024; break;
      case 2: g.vars = MARK; valid = parsed === null || (Object.getPrototypeOf(parsed) === Object.prototype && Object.values(parsed as Obj).every((v) => typeof v === 'string' || typeof v === 'number')); break;
      case 3: g.description = MARK; valid = typeof parsed === 'string' || parsed === null; break;
      case 4: g.nodes[n]!.queue = { policy: MARK }; valid = parsed === 'lossless' || parsed === 'freshest' || parsed === null; break;
      case 5: g.nodes[n]!.queue = { policy: 'freshest', size: MARK }; valid = parsed === null || Number.isInteger(parsed) && (parsed as number) >= 1 && (parsed as number) <= 1000; break;
    }
    return { text: withLiteral(g, L), valid };
  })
  .filter((x) => !x.valid)
  .map((x) => c('absurd top-level / queue')(x.text));

// 9. Deep nesting, in several places and styles.
const deep = fc
  .tuple(fc.integer({ min: 1, max: 6000 }), fc.integer({ min: 0, max: 4 }))
  .map(([d, how]) => {
    switch (how) {
      case 0: return '['.repeat(d) + ']'.repeat(d);
      case 1: return '{a: '.repeat(d) + '1' + '}'.repeat(d);
      case 2: return FLOW.replace('path: a.mp4', `path: a.mp4, x: ${'['.repeat(d)}${']'.repeat(d)}`);
      case 3: return Array.from({ length: Math.min(d, 1400) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n';
      default: return `version: 1\nnodes:\n${Array.from({ length: Math.min(d, 1400) }, (_, i) => `${' '.repeat(i + 2)}- `).join('\n')}x\n`;
    }
  })
  .map(c('deep nesting'));

// 10. Alias bombs ("billion laughs") and alias tricks.
const aliases = fc
  .tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 0, max: 3 }))
  .map(([width, depth, how]) => {
    const lines = [`l0: &l0 [${Array(width).fill('"lol"').join(', ')}]`];
    for (let i = 1; i < depth; i++) lines.push(`l${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(', ')}]`);
    const top = `*l${depth - 1}`;
    switch (how) {
      case 0: return lines.join('\n') + `\nversion: 1\nnodes: ${top}\n`;
      case 1: return `version: 1\nx: &x { type: decoder, options: { path: a } }\nnodes:\n${Array.from({ length: width * depth }, (_, i) => `  n${i}: *x`).join('\n')}\n`;
      case 2: return `${lines.join('\n')}\nversion: 1\nnodes:\n  decode: { type: decoder, options: { path: a.mp4, <<: ${top} } }\n`;
      default: return `${lines.join('\n')}\n${FLOW.replace('path: a.mp4', `path: a.mp4, junk: ${top}`)}`;
    }
  })
  .map(c('aliases'));

// 11. Random bytes and random text.
const randomBytes = fc
  .oneof(
    fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b).toString('utf8')),
    fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b).toString('latin1')),
    fc.string({ unit: 'binary', maxLength: 2000 }),
    fc.string({ unit: 'grapheme', maxLength: 2000 }),
  )
  .map(c('random bytes'));

// 12. YAML-ish token soup.
const TOKENS = ['version:', ' 1', 'nodes:', '\n', '  ', '{', '}', '[', ']', ':', ', ', '- ', '&a ', '*a', '!!str ', '"', "'", '#', '|', '>', '? ', 'type:', ' decoder', ' encoder', 'in:', ' decode.frame', 'options:', 'path: a.mp4', '<<: ', '%YAML 1.2', '---', '...', '\t', '\r\n', '@', '`'];
const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 200 }).map((t) => t.join('')).map(c('token soup'));

// 13. Over 1 MB.
const huge = fc
  .tuple(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 3 }))
  .map(([extra, how]) => {
    const n = MB + extra;
    switch (how) {
      case 0: return FLOW + '#' + 'x'.repeat(n);
      case 1: return FLOW.replace('a.mp4', 'a'.repeat(n));
      case 2: return 'version: 1\nnodes:\n' + Array.from({ length: Math.ceil(n / 40) }, (_, i) => `  n${i}: { type: decoder, options: { path: a } }\n`).join('');
      default: return '\u00e9'.repeat(n);
    }
  })
  .map(c('over 1 MB'));

const CATEGORIES: [string, fc.Arbitrary<Case>, number][] = [
  ['broken YAML', brokenYaml, 45],
  ['random damage', mutated, 40],
  ['unknown type', unknownType, 30],
  ['wrong kind / wiring', wrongKind, 40],
  ['cycle', cycle, 25],
  ['absurd option', badOption, 70],
  ['absurd option, any type', anyTypeOption, 30],
  ['missing / wrong shape', structure, 30],
  ['unknown key', unknownKey, 40],
  ['absurd top-level / queue', topLevel, 40],
  ['deep nesting', deep, 20],
  ['aliases', aliases, 20],
  ['random bytes', randomBytes, 40],
  ['token soup', soup, 40],
  ['over 1 MB', huge, 8],
];

/** Fixed cases: the classics, at full size. */
function billionLaughs(width = 10, depth = 10): string {
  const lines = [`a0: &a0 [${Array(width).fill('"lol"').join(',')}]`];
  for (let i = 1; i < depth; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(',')}]`);
  return `${lines.join('\n')}\nversion: 1\nnodes: { decode: { type: decoder, options: { path: *a${depth - 1} } } }\n`;
}
const FIXED: Case[] = [
  { cat: 'fixed: empty file', text: '' },
  { cat: 'fixed: whitespace', text: ' \n\t\n' },
  { cat: 'fixed: only a comment', text: '# nothing here\n' },
  { cat: 'fixed: BOM only', text: '\ufeff' },
  { cat: 'fixed: document markers', text: '---\n...\n' },
  { cat: 'fixed: two documents', text: FLOW + '---\n' + FLOW },
  { cat: 'fixed: a list', text: '- version: 1\n- nodes: {}\n' },
  { cat: 'fixed: a scalar', text: 'segflow' },
  { cat: 'fixed: NUL byte', text: FLOW.replace('a.mp4', 'a\u0000.mp4') },
  { cat: 'fixed: billion laughs 10x10', text: billionLaughs() },
  { cat: 'fixed: billion laughs 2x60', text: billionLaughs(2, 60) },
  { cat: 'fixed: merge-key bomb', text: `a: &a { x: 1 }\n${Array.from({ length: 30 }, (_, i) => `b${i}: &b${i} { <<: [${i ? `*b${i - 1}, *b${i - 1}` : '*a, *a'}] }`).join('\n')}\nversion: 1\nnodes: *b29\n` },
  { cat: 'fixed: 200k open brackets', text: '['.repeat(200_000) },
  { cat: 'fixed: 100k open maps', text: '{a: '.repeat(100_000) },
  { cat: 'fixed: 1 MB of open brackets', text: '['.repeat(MB - 1) },
  { cat: 'fixed: 500k compact sequence entries on one line', text: '- '.repeat(MB / 2 - 1) + 'x' },
  { cat: 'fixed: 256 balanced brackets (at the nesting limit)', text: '['.repeat(256) + ']'.repeat(256) },
  { cat: 'fixed: exactly 1 MB + 1', text: 'x'.repeat(MB + 1) },
  { cat: 'fixed: 90k keys in one map (~1 MB)', text: 'version: 1\nnodes: {' + Array.from({ length: 90_000 }, (_, i) => `k${i}: 1`).join(', ') + '}\n' },
  { cat: 'fixed: 30k anchors', text: 'version: 1\nnodes:\n' + Array.from({ length: 30_000 }, (_, i) => `  n${i}: &a${i} {type: x}\n`).join('') },
  { cat: 'fixed: 1001 chained nodes', text: 'version: 1\nnodes:\n  d: {type: decoder, options: {path: a}}\n' + Array.from({ length: 1000 }, (_, i) => `  n${i}: {type: downsampler, in: {frame: ${i ? `n${i - 1}` : 'd'}.frame}}\n`).join('') },
  { cat: 'fixed: 1M newlines', text: '\n'.repeat(MB - 10) },
  { cat: 'fixed: description with toString', text: FLOW + 'description: { toString: 1 }\n' },
  { cat: 'fixed: ${constructor}', text: FLOW.replace('a.mp4', '"${constructor}"') },
  { cat: 'fixed: __proto__ input port', text: FLOW.replace('in: { frame: overlay.frame }', 'in: { frame: overlay.frame, __proto__: decode.frame }') },
  { cat: 'fixed: output named constructor', text: FLOW.replace('in: { frame: overlay.frame }', 'in: { frame: decode.constructor }') },
  { cat: 'fixed: newline in a node name', text: FLOW + '  "a\\nb": { type: decoder }\n' },
  { cat: 'fixed: collection as a key', text: FLOW + '  ? [a, b]\n  : { type: decoder }\n' },
  { cat: 'fixed: CRLF + unknown key', text: FLOW.replaceAll('\n', '\r\n') + 'zz: 1\r\n' },
  { cat: 'fixed: 5000-char type', text: FLOW.replace('type: decoder', `type: ${'d'.repeat(5000)}`) },
  { cat: 'fixed: !!set nodes', text: 'version: 1\nnodes: !!set { a, b }\n' },
  { cat: 'fixed: !!set vars', text: FLOW + 'vars: !!set { a }\n' },
  { cat: 'fixed: !!binary vars', text: FLOW + 'vars: !!binary aGVsbG8=\n' },
  { cat: 'fixed: !!omap nodes', text: 'version: 1\nnodes: !!omap [ a: 1 ]\n' },
  { cat: 'fixed: version as a date', text: FLOW.replace('version: 1', 'version: !!timestamp 2001-12-14') },
];

test.serial('reliability › graph fuzz: the base graph is valid (so every generated case is broken by its generator)', (t) => {
  t.notThrows(() => parseGraph(FLOW, FILE, registry));
  t.notThrows(() => parseGraph(toYaml(baseGraph(), false), FILE, registry));
  t.notThrows(() => parseGraph(toYaml(baseGraph(), true), FILE, registry));
});

test.serial('reliability › graph fuzz: hundreds of malformed graphs → a one-line GraphError naming the file, no other exception, no hang', async (t) => {
  const parser = new Parser();
  const counts: Record<string, number> = {};
  let total = 0;
  let slowest = { ms: 0, cat: '' };
  const failures: string[] = [];
  const run = async (k: Case): Promise<boolean> => {
    const o = await parser.parse(k.text);
    total++;
    counts[k.cat] = (counts[k.cat] ?? 0) + 1;
    if (o.ms > slowest.ms) slowest = { ms: o.ms, cat: k.cat };
    const why = breaks(o, k.allowOk);
    if (why) failures.push(`[${k.cat}] ${why}\n    input: ${show(k.text)}`);
    return !why;
  };
  try {
    for (const k of FIXED) await run(k);
    for (const [name, arb, numRuns] of CATEGORIES) {
      const r = await fc.check(fc.asyncProperty(arb, run), { numRuns, endOnFailure: true });
      if (r.failed) failures.push(`  ↑ ${name}: fast-check seed ${r.seed}, path ${r.counterexamplePath}`);
    }
  } finally {
    await parser.close();
  }
  t.log(`${total} cases (${Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ')}); slowest ${slowest.ms.toFixed(0)} ms (${slowest.cat}); worker restarts after a hang: ${parser.restarts}`);
  t.true(total >= 300, `${total} cases`);
  t.deepEqual(failures, []);
});

test.serial('reliability › graph fuzz: a sample of 20 through `segflow validate` → exit 2, one stderr line, no stack trace', async (t) => {
  const dir = tmpDir('segflow-fuzz-');
  const files: { cat: string; file: string }[] = [];
  const add = (cat: string, content: string | Buffer, name = `case-${String(files.length).padStart(2, '0')}.yaml`) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    files.push({ cat, file });
  };
  // One generated case from each category (fixed seed: the same sample every run) ...
  for (const [name, arb] of CATEGORIES) {
    if (name === 'random damage') continue; // may be valid
    add(name, fc.sample(arb, { numRuns: 1, seed: 20240601 })[0]!.text);
  }
  // ... and the classics as real files.
  add('billion laughs', billionLaughs());
  add('random bytes (invalid UTF-8)', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 256)));
  add('over 1 MB on disk', FLOW + '#' + 'x'.repeat(MB));
  add('newline in a node name', FLOW + '  "a\\nb": { type: decoder }\n');
  add('collection as a key (yaml warns)', FLOW + '  ? [a, b]\n  : { type: decoder }\n');
  mkdirSync(path.join(dir, 'a-directory.yaml'));
  files.push({ cat: 'a directory', file: path.join(dir, 'a-directory.yaml') });
  files.push({ cat: 'no such file', file: path.join(dir, 'missing.yaml') });
  t.true(files.length >= 20, `${files.length} files`);

  const results: { cat: string; file: string; code: number | null; stderr: string; stdout: string }[] = [];
  const queue = [...files];
  await Promise.all([0, 1].map(async () => {
    for (let f = queue.shift(); f; f = queue.shift()) results.push({ ...f, ...(await segflow(['validate', f.file], { timeoutMs: 60_000 })) });
  }));
  for (const r of results) {
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    t.is(r.code, 2, `${r.cat}: exit ${r.code}; ${r.stderr.slice(0, 300)}`);
    t.is(lines.length, 1, `${r.cat}: stderr has ${lines.length} lines: ${r.stderr.slice(0, 500)}`);
    t.regex(lines[0] ?? '', /^segflow: /, r.cat);
    t.true(r.stderr.includes(r.file), `${r.cat}: names the file: ${r.stderr.slice(0, 300)}`);
    t.notRegex(r.stderr, /\bat .*(\.ts|\.js):\d+|^\s+at /m, `${r.cat}: no stack trace`);
    t.is(r.stdout, '', r.cat);
  }
  t.log(`${results.length} files through the CLI: exit codes ${[...new Set(results.map((r) => r.code))].join(', ')}`);
});
