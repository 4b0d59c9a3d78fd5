/**
 * Graph files: load, apply `--set` overrides, validate everything before
 * anything opens. Errors name file:line, the node, what was expected and what
 * was found; the CLI exits 2 on them.
 *
 * ```yaml
 * version: 1
 * nodes:
 *   decode:  { type: decoder, options: { path: samples/road.mp4 } }
 *   segment: { type: two-branch-segmenter, in: { frame: decode.frame } }
 * ```
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { didYouMean } from '../suggest.ts';
import { isAlias, isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { GraphError } from '../errors.ts';
import type { NodeSpec } from '../node.ts';
import type { QueuePolicy } from '../runtime/queue.ts';
import { escapeText } from '../text.ts';

export interface EdgeRef {
  readonly node: string;
  readonly port: string;
}

export interface NodeDef {
  readonly name: string;
  readonly type: string;
  readonly spec: NodeSpec;
  readonly options: Record<string, unknown>;
  readonly inputs: Readonly<Record<string, EdgeRef>>;
  readonly queue: QueuePolicy;
  readonly line: number;
  /** The options the graph file (or --set) gives, by name; the others are defaults (drawings show these). */
  readonly given?: readonly string[] | undefined;
  /** The executor (worker thread) the node runs in with the others that name it; absent: the main thread (src/core/executor.ts). */
  readonly executor?: string | undefined;
}

export interface GraphDef {
  readonly file: string;
  readonly description: string;
  /** Topological order. */
  readonly nodes: readonly NodeDef[];
  readonly maxInFlight: number;
  /** Graphs that run, but likely not as meant (`segflow validate` and `run` print them). */
  readonly warnings?: readonly string[];
}

export type Registry = ReadonlyMap<string, NodeSpec>;

const MAX_BYTES = 1 << 20;
const MAX_NODES = 1000;
const MAX_DEPTH = 256;
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const NODE_KEYS = new Set(['type', 'options', 'in', 'queue', 'executor']);
/** The options of a sink that name a file or folder it writes (as `segflow run` lists its outputs). */
const OUTPUT_KEYS = ['path', 'dir', 'json', 'csv', 'videoCsv', 'file'];

/** Parse `node.option=value` (value read as YAML, so numbers and booleans work). */
export function parseSet(arg: string): { node: string; key: string[]; value: unknown } {
  const m = /^([A-Za-z][\w-]*)\.([\w.]+)=(.*)$/s.exec(arg);
  if (!m) throw new GraphError(oneLine(`--set ${arg}: expected node.option=value`));
  const doc = parseDocument(m[3]!);
  return { node: m[1]!, key: m[2]!.split('.'), value: doc.errors.length ? m[3] : doc.toJS() };
}

export interface LoadOptions {
  /** `node.option=value` overrides. */
  readonly sets?: readonly string[];
  /** Values for `${name}` in string options; override the file's `vars:`. */
  readonly vars?: Readonly<Record<string, string>>;
  /**
   * `vars` are the user's (`--var`): each must be declared in the file's `vars:` or used as `${name}`;
   * a mistyped `--var inptu=clip.mp4` would otherwise run the graph on its default input.
   */
  readonly strictVars?: boolean;
}

export function loadGraphFile(file: string, registry: Registry, lo: LoadOptions = {}): GraphDef {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new GraphError(`${file}: cannot read graph file (not found)`, file);
  }
  if (size > MAX_BYTES) throw new GraphError(`${file}: graph file is ${size} bytes; expected at most ${MAX_BYTES}`, file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GraphError(oneLine(`${file}: cannot read graph file (${code === 'EISDIR' ? 'a directory, expected a YAML file' : code ?? (e as Error).message})`), file);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Read as UTF-8 anyway, a Latin-1 'é' would become U+FFFD in a path or name, and the graph would validate.
    const loose = bytes.toString('utf8');
    const at = loose.indexOf('\uFFFD');
    const line = loose.slice(0, at).split('\n').length;
    const byte = bytes[Buffer.byteLength(loose.slice(0, at), 'utf8')] ?? 0;
    throw new GraphError(`${file}:${line} › expected UTF-8 text, found byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')}, which is not UTF-8 (a file saved as Latin-1 or UTF-16?); save the graph file as UTF-8`, file, line);
  }
  return parseGraph(text, file, registry, lo);
}

export function parseGraph(text: string, file: string, registry: Registry, lo: LoadOptions = {}): GraphDef {
  const sets = lo.sets ?? [];
  const where = (line?: number) => (line ? `${file}:${line}` : file);
  const fail = (msg: string, line?: number): never => {
    throw new GraphError(oneLine(`${where(line)} › ${msg}`), file, line);
  };
  if (text.length > MAX_BYTES) fail(`graph file is ${text.length} bytes; expected at most ${MAX_BYTES}`);
  if (text.includes('\u0000')) fail('expected a YAML text file, found binary data (NUL bytes)');
  const deepAt = tooDeep(text, MAX_DEPTH);
  if (deepAt) fail(`nested more than ${MAX_DEPTH} levels deep; expected a graph file`, deepAt);

  const lc = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false, logLevel: 'error' });
  } catch (e) {
    return fail(`YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    if (e.code === 'MULTIPLE_DOCS') fail("YAML: expected one document, found a second one ('---' starts another; one graph per file)", lc.linePos(e.pos[0]).line);
    fail(`YAML: ${e.message.split('\n')[0]}`, lc.linePos(e.pos[0]).line);
  }
  // Duplicate keys, checked here in linear time (yaml's own uniqueKeys check is quadratic in a map's size).
  let dup: { key: unknown; pos?: number } | undefined;
  let merge: number | undefined; // where a merge key (`<<: *anchor`) is
  try {
    visit(doc, {
      Map(_, map) {
        const seen = new Set<unknown>();
        for (const it of map.items) {
          const k = isScalar(it.key) ? it.key.value : it.key;
          if (k === '<<' && isAlias(it.value)) {
            merge = (it.key as { range?: [number, number] } | null)?.range?.[0] ?? -1;
            return visit.BREAK;
          }
          if (seen.has(k)) {
            dup = { key: k, pos: (it.key as { range?: [number, number] } | null)?.range?.[0] };
            return visit.BREAK;
          }
          seen.add(k);
        }
        return undefined;
      },
    });
  } catch (e) {
    return fail(`YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (merge !== undefined) fail("YAML: merge keys ('<<: *anchor', YAML 1.1) are not supported; expected the keys written out (an alias of a whole value, `options: *common`, works)", merge >= 0 ? lc.linePos(merge).line : undefined);
  if (dup) fail(`YAML: Map keys must be unique; found ${describe(dup.key)} twice`, dup.pos !== undefined ? lc.linePos(dup.pos).line : undefined);
  const lineOf = (p: readonly (string | number)[], key = false): number | undefined => {
    // The line of a key (for a missing/unknown entry) or of its value.
    let node: unknown = doc.contents;
    let line: number | undefined;
    for (const k of p) {
      if (!isMap(node)) break;
      const pair = node.items.find((it) => (isScalar(it.key) ? it.key.value : it.key) === k);
      if (!pair) break;
      const kr = (pair.key as { range?: [number, number] }).range;
      if (kr) line = lc.linePos(kr[0]).line;
      node = pair.value;
      if (!key) {
        const vr = (node as { range?: [number, number] } | null)?.range;
        if (vr && p[p.length - 1] === k) line = lc.linePos(vr[0]).line;
      }
    }
    return line;
  };

  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail(`YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObject(root)) return fail(`expected a mapping with 'version' and 'nodes', found ${describe(root)}`, 1);
  for (const k of Object.keys(root)) {
    if (!['version', 'nodes', 'description', 'maxInFlight', 'vars'].includes(k)) fail(`unknown top-level key '${k}'; expected version, nodes, description, maxInFlight, vars`, lineOf([k], true));
  }
  if (root.version !== 1) fail(`version: expected 1, found ${describe(root.version)}`, lineOf(['version']) ?? 1);
  const maxInFlight = root.maxInFlight ?? 8;
  if (!Number.isInteger(maxInFlight) || (maxInFlight as number) < 1 || (maxInFlight as number) > 1024) {
    fail(`maxInFlight: expected an integer 1..1024 (packets), found ${describe(maxInFlight)}`, lineOf(['maxInFlight']));
  }
  const varsRaw = root.vars ?? {};
  if (!isObject(varsRaw) || Object.values(varsRaw).some((v) => typeof v !== 'string' && typeof v !== 'number')) {
    fail(`vars: expected a mapping of name to string, found ${describe(varsRaw)}`, lineOf(['vars']));
  }
  const vars: Record<string, string> = { ...Object.fromEntries(Object.entries(varsRaw as Record<string, unknown>).map(([k, v]) => [k, String(v)])), ...lo.vars };
  const nodesRaw = root.nodes;
  if (!isObject(nodesRaw) || Object.keys(nodesRaw).length === 0) fail(`nodes: expected a mapping of node name to node, found ${describe(nodesRaw)}`, lineOf(['nodes'], true) ?? 1);
  const raw = nodesRaw as Record<string, unknown>;
  if (Object.keys(raw).length > MAX_NODES) fail(`nodes: expected at most ${MAX_NODES} nodes, found ${Object.keys(raw).length}`, lineOf(['nodes'], true));

  if (lo.strictVars) {
    const used = new Set(Object.keys(varsRaw as object));
    const scan = (v: unknown): void => {
      if (typeof v === 'string') for (const m of v.matchAll(/\$\{([A-Za-z_]\w*)\}/g)) used.add(m[1]!);
      else if (Array.isArray(v)) v.forEach(scan);
      else if (isObject(v)) Object.values(v).forEach(scan);
    };
    for (const n of Object.values(raw)) if (isObject(n)) scan(n.options);
    for (const s of sets) scan(s);
    for (const k of Object.keys(lo.vars ?? {})) {
      if (!used.has(k)) throw new GraphError(oneLine(`--var ${k}: ${file} has no \${${k}}${didYouMean(k, used)}; expected one of: ${[...used].join(', ') || 'none (the graph uses no variables)'}`), file);
    }
  }

  // --set overrides, applied to the parsed tree before validation.
  const setLines = new Map<string, string>();
  for (const s of sets) {
    const { node, key, value } = parseSet(s);
    const n = raw[node];
    if (!isObject(n)) throw new GraphError(oneLine(`--set ${s}: no node named '${node}' in ${file}; nodes: ${Object.keys(raw).join(', ')}`), file);
    const opts = (isObject(n.options) ? n.options : (n.options = {})) as Record<string, unknown>;
    let cur = opts;
    for (const k of key.slice(0, -1)) cur = (isObject(cur[k]) ? cur[k] : (cur[k] = {})) as Record<string, unknown>;
    cur[key[key.length - 1]!] = value;
    setLines.set(`${node}.${key[0]}`, s);
  }

  const defs = new Map<string, Omit<NodeDef, 'queue'> & { queueRaw: unknown }>();
  for (const [name, v] of Object.entries(raw)) {
    const line = lineOf(['nodes', name], true);
    if (!NAME.test(name)) fail(`node '${name}': expected a name of letters, digits, '-' or '_' starting with a letter`, line);
    if (!isObject(v)) fail(`node '${name}': expected a mapping with 'type', found ${describe(v)}`, line);
    const n = v as Record<string, unknown>;
    for (const k of Object.keys(n)) if (!NODE_KEYS.has(k)) fail(`node '${name}': unknown key '${k}'; expected type, options, in, queue, executor`, lineOf(['nodes', name, k], true));
    if (typeof n.type !== 'string') fail(`node '${name}': expected 'type' to be a node type name, found ${describe(n.type)}`, lineOf(['nodes', name, 'type']) ?? line);
    const type = n.type as string;
    const spec = registry.get(type);
    if (!spec) fail(`node '${name}': unknown node type '${type}'${didYouMean(type, registry.keys())}; expected one of: ${[...registry.keys()].sort().join(', ')}`, lineOf(['nodes', name, 'type']) ?? line);
    const optsIn = substitute(n.options ?? {}, vars, (v) => fail(`node '${name}'.options: unknown variable \${${v}}; expected one of: ${Object.keys(vars).join(', ') || 'none (declare vars: at the top)'}`, lineOf(['nodes', name, 'options'], true)));
    if (!isObject(optsIn)) fail(`node '${name}'.options: expected a mapping, found ${describe(optsIn)}`, lineOf(['nodes', name, 'options']));
    const parsed = spec!.options.safeParse(optsIn);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const key = issue.path.map(String);
      const optPath = ['nodes', name, 'options', ...key];
      const got = key.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), optsIn);
      const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const viaSet = setLines.get(`${name}.${[...key, ...unknownKeys.slice(0, 1)].join('.')}`) ?? unknownKeys.map((k) => setLines.get(`${[name, ...key, k].join('.')}`)).find((x) => x);
      const at = viaSet ? `(from --set ${viaSet}) ` : '';
      const expected = (issue as { expected?: unknown }).expected;
      const hint = unknownKeys.length ? unknownKeyHint(unknownKeys, spec!.options, key)
        // YAML 1.1 habits: `yes`/`on` are text in YAML 1.2; a quoted number is text.
        : issue.code === 'invalid_type' && typeof got === 'string' && expected === 'boolean' && /^(yes|no|on|off|y|n)$/i.test(got) ? ` (YAML 1.2 reads ${got} as text; write true or false)`
        : issue.code === 'invalid_type' && typeof got === 'string' && expected === 'number' && got.trim() !== '' && Number.isFinite(Number(got)) ? ` (text, not a number: write ${got.trim()} without quotes; a \${var} is always text)`
        : '';
      fail(`${at}${name}.options${key.length ? '.' + key.join('.') : ''}: ${issue.message}${got !== undefined && issue.code !== 'unrecognized_keys' ? `, got ${describe(got)}` : ''}${hint}`, viaSet ? undefined : lineOf(optPath, issue.code === 'unrecognized_keys') ?? lineOf(['nodes', name, 'options'], true) ?? line);
    }
    const inRaw = n.in ?? {};
    if (!isObject(inRaw)) fail(`node '${name}'.in: expected a mapping of input port to 'node.port', found ${describe(inRaw)}`, lineOf(['nodes', name, 'in']));
    const inputs: Record<string, EdgeRef> = {};
    for (const [port, ref] of Object.entries(inRaw as Record<string, unknown>)) {
      const pl = lineOf(['nodes', name, 'in', port]);
      if (!Object.hasOwn(spec!.inputs, port)) fail(`${name}.in.${port}: node type '${type}' has no input '${port}'; expected ${listOr(Object.keys(spec!.inputs))}`, pl);
      if (typeof ref !== 'string' || !/^[^.\s]+\.[^.\s]+$/.test(ref)) {
        // A bare node name (`frame: decode`): name its outputs of the kind this input takes.
        const up = typeof ref === 'string' && Object.hasOwn(raw, ref) && isObject(raw[ref]) ? registry.get(String(raw[ref].type)) : undefined;
        const outs = up ? Object.keys(up.outputs).filter((p) => up.outputs[p] === spec!.inputs[port]).map((p) => `${ref as string}.${p}`) : [];
        fail(`${name}.in.${port}: expected 'node.port', found ${describe(ref)}${outs.length ? ` (did you mean ${listOr(outs)}?)` : ''}`, pl);
      }
      const [up, upPort] = (ref as string).split('.') as [string, string];
      inputs[port] = { node: up, port: upPort };
    }
    const executor = n.executor;
    if (executor !== undefined && (typeof executor !== 'string' || !NAME.test(executor))) fail(`node '${name}'.executor: expected an executor name (letters, digits, '-' or '_', starting with a letter), found ${describe(executor)}`, lineOf(['nodes', name, 'executor']));
    if (executor !== undefined && spec!.role !== 'transform') fail(`node '${name}' (${type}) is a ${spec!.role}: only transforms run in an executor; remove its executor: ${executor as string}`, lineOf(['nodes', name, 'executor']));
    defs.set(name, { name, type, spec: spec!, options: parsed.data as Record<string, unknown>, inputs, line: line ?? 1, queueRaw: n.queue, executor: executor as string | undefined, given: Object.keys(optsIn as Record<string, unknown>) });
  }

  // Wiring: upstream exists, port exists, kinds match, required inputs wired.
  for (const d of defs.values()) {
    for (const [port, ref] of Object.entries(d.inputs)) {
      const pl = lineOf(['nodes', d.name, 'in', port]);
      const up = defs.get(ref.node);
      if (!up) fail(`${d.name}.in.${port}: no node named '${ref.node}'${didYouMean(ref.node, defs.keys())}; expected one of: ${[...defs.keys()].join(', ')}`, pl);
      const kind = Object.hasOwn(up!.spec.outputs, ref.port) ? up!.spec.outputs[ref.port] : undefined;
      if (!kind) fail(`${d.name}.in.${port}: node '${ref.node}' (${up!.type}) has no output '${ref.port}'; expected ${listOr(Object.keys(up!.spec.outputs)) || 'none (it is a sink)'}`, pl);
      const want = d.spec.inputs[port]!;
      if (kind !== want) fail(`${d.name}.in.${port}: expected a '${want}' stream, but ${ref.node}.${ref.port} is '${kind}'`, pl);
      if (kind === 'features' && up!.executor !== d.executor) {
        // A features packet is a handle to tensors in the thread that made them: it cannot cross threads.
        const at = (e: string | undefined) => (e ? `executor '${e}'` : 'the main thread');
        fail(`${d.name}.in.${port}: a 'features' edge must stay inside one executor, but ${ref.node} runs in ${at(up!.executor)} and ${d.name} in ${at(d.executor)}; give both the same executor: <name>`, pl);
      }
    }
    for (const port of Object.keys(d.spec.inputs)) {
      if (!(port in d.inputs) && !(d.spec.optionalInputs ?? []).includes(port)) {
        fail(`node '${d.name}' (${d.type}): input '${port}' (${d.spec.inputs[port]}) is not wired; expected in: { ${port}: <node>.<port> }`, d.line);
      }
    }
  }
  if (![...defs.values()].some((d) => d.spec.role === 'source')) fail('expected at least one source node (decoder, rtsp-source, ...), found none', lineOf(['nodes'], true));

  // Topological order (Kahn); whatever is left is on a cycle.
  const indeg = new Map([...defs.keys()].map((k) => [k, 0]));
  for (const d of defs.values()) for (const r of Object.values(d.inputs)) indeg.set(d.name, indeg.get(d.name)! + (r ? 1 : 0));
  const order: string[] = [];
  const ready = [...defs.keys()].filter((k) => indeg.get(k) === 0);
  while (ready.length) {
    const k = ready.shift()!;
    order.push(k);
    for (const d of defs.values()) {
      for (const r of Object.values(d.inputs)) {
        if (r.node === k) {
          indeg.set(d.name, indeg.get(d.name)! - 1);
          if (indeg.get(d.name) === 0) ready.push(d.name);
        }
      }
    }
  }
  if (order.length !== defs.size) {
    const cyc = [...defs.keys()].filter((k) => !order.includes(k));
    fail(`cycle between nodes ${cyc.join(' → ')}; expected a graph without cycles`, defs.get(cyc[0]!)!.line);
  }

  // Pixel formats flow downstream: a yuv420p frame output may feed only inputs that take yuv420p.
  const yuvOut = new Set<string>(); // 'node.port'
  for (const k of order) {
    const d = defs.get(k)!;
    const y = d.spec.yuv;
    for (const [port, ref] of Object.entries(d.inputs)) {
      if (!yuvOut.has(`${ref.node}.${ref.port}`) || (y?.takes as readonly string[] | undefined)?.includes(port)) continue;
      fail(`${d.name}.in.${port}: ${ref.node}.${ref.port} carries yuv420p frames (a decoder's pixelFormat: yuv420p), which ${d.name} (${d.type}) does not take; only a downsampler, an overlay, an encoder or a label-resizer do — set pixelFormat: rgb24, or take the frames through a downsampler`, lineOf(['nodes', d.name, 'in', port]));
    }
    const emits = (y?.emits as ((o: unknown) => boolean) | undefined)?.(d.options) === true;
    for (const [port, kind] of Object.entries(d.spec.outputs)) {
      if (kind !== 'frame') continue;
      const from = (y?.passes as Record<string, string> | undefined)?.[port];
      const inRef = from !== undefined ? d.inputs[from] : undefined;
      if (emits || (inRef && yuvOut.has(`${inRef.node}.${inRef.port}`))) yuvOut.add(`${d.name}.${port}`);
    }
  }

  // A node's inputs pair packets by (source, seq) (a declared join, label-propagation's frames and labels):
  // inputs from different sources never pair, and a port that keeps no unmatched packets would wait for its
  // partner for ever (the run stalls at 0 frames).
  const sources = new Map<string, Set<string>>();
  for (const k of order) {
    const d = defs.get(k)!;
    sources.set(k, d.spec.role === 'source' ? new Set([k]) : new Set(Object.values(d.inputs).flatMap((r) => [...sources.get(r.node)!])));
    const join = d.spec.join;
    const ports = Object.keys(d.inputs);
    for (const [i, a] of ports.entries()) {
      for (const b of ports.slice(i + 1)) {
        const sa = sources.get(d.inputs[a]!.node)!;
        const sb = sources.get(d.inputs[b]!.node)!;
        const kept = (join?.keepUnmatched ?? []) as readonly string[];
        if ([...sa].some((x) => sb.has(x)) || (kept.includes(a) && kept.includes(b))) continue;
        const from = (x: Set<string>) => [...x].join(' and ');
        fail(`${k}.in.${b}: ${k} (${d.type}) pairs its ${a} and ${b} packets by source and frame number, but ${k}.in.${a} comes from ${from(sa)} and ${k}.in.${b} from ${from(sb)}, so none would pair and the run would stall; expected both from the same source`, lineOf(['nodes', k, 'in', b]) ?? d.line);
      }
    }
  }

  // Every node feeds a sink: a stream nobody takes is never subscribed, so a node that reaches no sink never runs.
  const sinkTypes = () => [...registry.values()].filter((s) => s.role === 'sink').map((s) => s.type).sort().join(', ');
  if (![...defs.values()].some((d) => d.spec.role === 'sink')) fail(`expected at least one sink node (${sinkTypes()}), found none: nothing would be written or sent`, lineOf(['nodes'], true));
  const feeds = new Set<string>();
  for (const k of [...order].reverse()) {
    const d = defs.get(k)!;
    if (d.spec.role !== 'sink' && !feeds.has(k)) {
      const outs = Object.keys(d.spec.outputs).map((p) => `${k}.${p}`).join(' or ');
      fail(`node '${k}' (${d.type}): its outputs feed no sink, so it would never run; expected ${outs} in the 'in:' of another node (sinks: ${sinkTypes()}), or remove the node`, d.line);
    }
    for (const r of Object.values(d.inputs)) feeds.add(r.node);
  }

  // Files: no two outputs at one path (or one inside another's folder), and no output onto an input (data loss).
  const files: { at: string; name: string; key: string; out: boolean }[] = [];
  for (const k of order) {
    const d = defs.get(k)!;
    const o = d.options;
    const keys = d.spec.role === 'sink' ? OUTPUT_KEYS : d.spec.role === 'source' && o.url !== true ? ['path'] : [];
    for (const key of [...keys, 'audioFrom']) {
      if (typeof o[key] !== 'string' || o[key] === '' || o[key] === '/dev/null') continue;
      files.push({ at: path.resolve(o[key] as string), name: k, key, out: d.spec.role === 'sink' && key !== 'audioFrom' });
    }
  }
  for (const [i, a] of files.entries()) {
    for (const b of files.slice(i + 1)) {
      if (!a.out && !b.out) continue; // an input read twice (a decoder's path as an encoder's audioFrom)
      const them = `${a.name}.options.${a.key}${b.at === a.at ? '' : ` ('${a.at}')`}`;
      const how = b.at === a.at ? `is also ${them}` : b.at.startsWith(a.at + path.sep) ? `is inside ${them}` : a.at.startsWith(b.at + path.sep) ? `holds ${them}` : '';
      if (!how) continue;
      const loss = a.out && b.out ? 'one output would overwrite the other' : 'the output would overwrite its input';
      fail(`${b.name}.options.${b.key}: '${b.at}' ${how}; ${loss}: expected a separate path for each output`, lineOf(['nodes', b.name, 'options', b.key]) ?? defs.get(b.name)!.line);
    }
  }

  // Warnings: a segmenter fed frames at the video's own size (no downsampler on the way: a decoder straight into
  // it) resizes each one to the model's scale itself (~480 px on the longer side: Model.inferenceSize), after every
  // full-size frame has crossed to its thread; a downsampler before it does that cheaper and anti-aliased.
  const warnings: string[] = [];
  for (const k of order) {
    const d = defs.get(k)!;
    if (d.type !== 'two-branch-segmenter' || d.options.inputWidth || d.options.inputHeight) continue;
    let up = d.inputs.frame ? defs.get(d.inputs.frame.node) : undefined;
    while (up && up.type !== 'downsampler' && up.inputs.frame) up = defs.get(up.inputs.frame.node);
    const full = up?.type === 'decoder' ? !up.options.maxSidePx : up?.type === 'rtsp-source' ? !up.options.width && !up.options.height : false;
    if (full) warnings.push(`${where(d.line)} › ${k}: its frames come from ${up!.name} (${up!.type}) at the video's own size, with no downsampler between, so every full-size frame goes to the segmenter, which fits it down to the model's scale itself (longer side 480 px, a plain bilinear resize); expected a downsampler (options: { longSidePx: 480 }) before ${k}, or set ${k}.inputWidth and inputHeight`);
  }

  // Live-ness flows downstream: edges fed by a live source default to freshest.
  const live = new Map<string, boolean>();
  for (const k of order) {
    const d = defs.get(k)!;
    live.set(k, d.spec.live === true || Object.values(d.inputs).some((r) => live.get(r.node)));
  }
  const nodes: NodeDef[] = order.map((k) => {
    const d = defs.get(k)!;
    const fedLive = Object.values(d.inputs).some((r) => live.get(r.node));
    // A queue is on a node's input edges: one on a node without inputs (a source) would be ignored.
    if (d.queueRaw !== undefined && !Object.keys(d.inputs).length) fail(`${d.name}.queue: ${d.name} (${d.type}) has no inputs, and a queue holds a node's inputs; expected it on the nodes that take ${Object.keys(d.spec.outputs).map((p) => `${d.name}.${p}`).join(' or ')}`, lineOf(['nodes', d.name, 'queue'], true));
    const queue = parseQueue(d.queueRaw, fedLive, (m) => fail(`${d.name}.queue: ${m}`, lineOf(['nodes', d.name, 'queue'])));
    // A freshest queue fed by a file read as fast as it goes drops what the node cannot take at once: outputs miss frames.
    const files = [...(sources.get(d.name) ?? [])].map((x) => defs.get(x)!).filter((x) => x.type === 'decoder' && x.options.realtime !== true);
    if (queue.policy === 'freshest' && !fedLive && files.length) warnings.push(`${where(lineOf(['nodes', d.name, 'queue']) ?? d.line)} › ${d.name}.queue: freshest, fed by a file (${files.map((x) => x.name).join(', ')}) read as fast as it goes, drops every packet ${d.name} cannot take at once, so the outputs miss frames; expected lossless (the default for files), or the decoder's realtime: true to play the file at its own rate like a camera`);
    const { queueRaw: _q, ...rest } = d;
    return { ...rest, queue };
  });
  const description = root.description ?? '';
  if (typeof description !== 'string') fail(`description: expected a string, found ${describe(description)}`, lineOf(['description']));
  return { file, description: description as string, nodes, maxInFlight: maxInFlight as number, ...(warnings.length ? { warnings: warnings.map(oneLine) } : {}) };
}

function parseQueue(v: unknown, live: boolean, fail: (m: string) => never): QueuePolicy {
  const def: QueuePolicy = live ? { policy: 'freshest', size: 2 } : { policy: 'lossless', size: Infinity };
  if (v === undefined || v === null) return def;
  if (!isObject(v)) return fail(`expected { policy: lossless|freshest, size: N }, found ${describe(v)}`);
  for (const k of Object.keys(v)) if (k !== 'policy' && k !== 'size') fail(`unknown key '${k}'; expected policy, size`);
  const policy = v.policy ?? def.policy;
  if (policy !== 'lossless' && policy !== 'freshest') fail(`policy: expected lossless or freshest, found ${describe(policy)}`);
  const size = v.size ?? (policy === 'freshest' ? 2 : Infinity);
  if (policy === 'freshest' && (!Number.isInteger(size) || (size as number) < 1 || (size as number) > 1000)) fail(`size: expected an integer 1..1000 (packets), found ${describe(size)}`);
  return { policy, size: policy === 'freshest' ? (size as number) : Infinity } as QueuePolicy;
}

/** Replace `${name}` in every string, recursively. */
function substitute(v: unknown, vars: Record<string, string>, unknown: (name: string) => never): unknown {
  if (typeof v === 'string') return v.replace(/\$\{([A-Za-z_]\w*)\}/g, (_, k: string) => (Object.hasOwn(vars, k) ? vars[k]! : unknown(k)));
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars, unknown));
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars, unknown)]));
  return v;
}

/**
 * The line where `[`/`{` nesting, or compact block entries on one line (`- - -`, `? ? ?`), go deeper
 * than `max`: a quick scan before parsing, because yaml's parser takes tens of seconds on a 1 MB
 * nesting bomb. Quoted strings and comments are skipped.
 */
function tooDeep(text: string, max: number): number | undefined {
  let depth = 0;
  let line = 1;
  let compact = 0;
  let lineStart = true;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      compact = 0;
      lineStart = true;
      continue;
    }
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) {
        if (quote === "'" && text[i + 1] === "'") i++;
        else quote = '';
      }
      continue;
    }
    const prev = i > 0 ? text[i - 1]! : ' ';
    if (c === '#' && /\s/.test(prev)) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if (lineStart) {
      if (c === ' ' || c === '\t') continue;
      if ((c === '-' || c === '?' || c === ':') && /[ \t]/.test(text[i + 1] ?? '')) {
        if (++compact > max) return line;
        continue;
      }
      lineStart = false;
    }
    if ((c === '"' || c === "'") && /[\s[{,:]/.test(prev)) quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > max) return line;
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** Error messages are one line: control characters, line breaks and bidi overrides in names and values are escaped (escapeText). */
function oneLine(s: string): string {
  // A password in a URL (`rtsp://user:pass@camera`, a mistyped scheme included) is never echoed: `user:***@`.
  s = s.replace(/(\b[a-z][\w+.-]*:\/\/[^:/@\s'"]+):[^@/'"\n]*@/gi, '$1:***@');
  if (s.length > 1000) s = `${s.slice(0, 600)} … ${s.slice(-380)}`;
  return escapeText(s);
}

/** ` (did you mean 'x'?); valid keys: …` for unknown option keys (the keys of the object schema they were found in). */
function unknownKeyHint(keys: readonly string[], schema: unknown, at: readonly string[]): string {
  type S = { shape?: Record<string, unknown>; def?: { innerType?: unknown } } | undefined;
  const unwrap = (x: S): S => (x && !x.shape && x.def?.innerType ? unwrap(x.def.innerType as S) : x); // .default(), .optional()
  let s = unwrap(schema as S);
  for (const k of at) s = unwrap(s?.shape?.[k] as S);
  const valid = s?.shape ? Object.keys(s.shape) : [];
  if (!valid.length) return '';
  return `${keys.slice(0, 8).map((k) => didYouMean(k, valid)).find((x) => x) ?? ''}; valid keys: ${valid.join(', ')}`;
}

/** A plain mapping: YAML tags that make a Set, Map, Date or bytes (`!!set`, `!!omap`, `!!timestamp`, `!!binary`) are not. */
function isObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function listOr(xs: string[]): string {
  return xs.map((x) => `'${x}'`).join(' or ');
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return isObject(v) ? 'a mapping' : `a ${(v as object).constructor?.name ?? 'value'}`;
  const s = typeof v === 'string' ? `'${v}'` : String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** The files and folders a graph's sinks write (absolute; /dev/null left out), by node and option. */
export function outputPaths(def: GraphDef): Array<{ node: string; key: string; path: string; line: number }> {
  return def.nodes.filter((n) => n.spec.role === 'sink').flatMap((n) => OUTPUT_KEYS
    .filter((k) => typeof n.options[k] === 'string' && n.options[k] !== '' && n.options[k] !== '/dev/null')
    .map((k) => ({ node: n.name, key: k, path: path.resolve(n.options[k] as string), line: n.line })));
}

export function graphDir(file: string): string {
  return path.dirname(path.resolve(file));
}
