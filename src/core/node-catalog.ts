/**
 * Every node type described for people: ports, and each option with its type,
 * default, range and description — read from the same zod schemas the graph
 * loader validates with (as JSON Schema), so `segflow nodes NAME` and
 * docs/nodes.md cannot drift from what a graph file accepts.
 *
 * The build (scripts/build.mjs) writes the catalog to dist/nodes/catalog.json,
 * so `segflow nodes` in the built package prints it without loading zod, RxJS
 * or any node (start-up); a checkout computes it from the schemas.
 */
import type { NodeSpec } from './node.ts';

export interface OptionInfo {
  readonly name: string;
  /** 'integer', 'number', 'string', 'boolean', 'a | b' (an enum), 'string[]', … */
  readonly type: string;
  readonly required: boolean;
  /** JSON text of the default, when there is one. */
  readonly default?: string;
  /** '1..65535', '≥ 0', 'length ≥ 8', 'pattern ^…$' (empty when unbounded). */
  readonly range: string;
  readonly description: string;
}

export interface NodeInfo {
  readonly type: string;
  readonly role: string;
  readonly description: string;
  readonly inputs: Readonly<Record<string, string>>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly optionalInputs: readonly string[];
  readonly options: readonly OptionInfo[];
}

type Json = {
  type?: string | string[]; enum?: unknown[]; const?: unknown; items?: Json; anyOf?: Json[]; oneOf?: Json[];
  properties?: Record<string, Json>; required?: string[]; default?: unknown; description?: string;
  minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number;
  minLength?: number; maxLength?: number; minItems?: number; maxItems?: number; pattern?: string; format?: string;
};

function typeOf(j: Json): string {
  if (j.enum) return j.enum.map((x) => String(x)).join(' | ');
  if (j.const !== undefined) return JSON.stringify(j.const);
  const alts = j.anyOf ?? j.oneOf;
  if (alts) return [...new Set(alts.map(typeOf))].join(' | ');
  if (j.type === 'array') return `${j.items ? typeOf(j.items) : 'any'}[]`;
  if (j.type === 'object') return j.properties ? `{ ${Object.keys(j.properties).join(', ')} }` : 'object';
  if (Array.isArray(j.type)) return j.type.join(' | ');
  return j.type ?? 'any';
}

function rangeOf(j: Json): string {
  const alts = j.anyOf ?? j.oneOf;
  if (alts) return alts.map(rangeOf).filter(Boolean).join('; ');
  const big = (n: number | undefined) => n === undefined || Math.abs(n) >= Number.MAX_SAFE_INTEGER;
  const lo = j.minimum ?? j.exclusiveMinimum;
  const hi = j.maximum ?? j.exclusiveMaximum;
  const loS = lo === undefined ? '' : `${lo}${j.exclusiveMinimum !== undefined ? ' (excl.)' : ''}`;
  const hiS = hi === undefined ? '' : `${hi}${j.exclusiveMaximum !== undefined ? ' (excl.)' : ''}`;
  const parts: string[] = [];
  if (!big(lo) && !big(hi)) parts.push(`${loS}..${hiS}`);
  else if (!big(lo)) parts.push(`≥ ${loS}`);
  else if (!big(hi)) parts.push(`≤ ${hiS}`);
  if (j.minLength !== undefined && j.minLength > 1) parts.push(`length ≥ ${j.minLength}`);
  if (j.maxLength !== undefined) parts.push(`length ≤ ${j.maxLength}`);
  if (j.minItems !== undefined) parts.push(`≥ ${j.minItems} items`);
  if (j.maxItems !== undefined) parts.push(`≤ ${j.maxItems} items`);
  if (j.pattern) parts.push(`pattern ${j.pattern}`);
  if (j.format) parts.push(j.format);
  if (j.type === 'array' && j.items) {
    const r = rangeOf(j.items);
    if (r) parts.push(`each ${r}`);
  }
  return parts.join(', ');
}

/** Each node type with its options, from the schemas (loads zod). */
export async function describeNodes(specs: Iterable<NodeSpec>): Promise<NodeInfo[]> {
  const { toJSONSchema } = await import('zod');
  const out: NodeInfo[] = [];
  for (const s of specs) {
    const j = toJSONSchema(s.options, { io: 'input', unrepresentable: 'any' }) as Json;
    const required = new Set(j.required ?? []);
    const options = Object.entries(j.properties ?? {}).map(([name, p]): OptionInfo => ({
      name,
      type: typeOf(p),
      required: required.has(name),
      ...(p.default !== undefined ? { default: JSON.stringify(p.default) } : {}),
      range: rangeOf(p),
      description: p.description ?? '',
    }));
    out.push({ type: s.type, role: s.role, description: s.description, inputs: { ...s.inputs }, outputs: { ...s.outputs }, optionalInputs: [...(s.optionalInputs ?? [])], options });
  }
  return out;
}

const ports = (p: Readonly<Record<string, string>>, optional: readonly string[] = []) =>
  Object.entries(p).map(([k, v]) => `${k}(${v})${optional.includes(k) ? '?' : ''}`).join(' ') || '-';

/** One line per node type (`segflow nodes`). */
export function formatNodeList(infos: readonly NodeInfo[]): string {
  return infos.map((s) => `${s.type.padEnd(22)} ${s.role.padEnd(9)} in: ${ports(s.inputs, s.optionalInputs)}  out: ${ports(s.outputs)}  — ${s.description}\n`).join('');
}

/** A node type in full (`segflow nodes NAME`): ports and every option. */
export function formatNode(s: NodeInfo): string {
  const lines = [`${s.type} (${s.role}) — ${s.description}`, `  in:  ${ports(s.inputs, s.optionalInputs)}`, `  out: ${ports(s.outputs)}`, '  options:'];
  if (!s.options.length) lines.push('    (none)');
  const w = Math.max(0, ...s.options.map((o) => o.name.length));
  for (const o of s.options) {
    const facts = [o.type, o.required ? 'required' : `default ${o.default ?? '(unset)'}`, o.range].filter(Boolean).join(', ');
    lines.push(`    ${o.name.padEnd(w)}  ${facts}`, `    ${''.padEnd(w)}  ${o.description}`);
  }
  return lines.join('\n') + '\n';
}

/** docs/nodes.md: the same facts as a Markdown reference. */
export function nodesMarkdown(infos: readonly NodeInfo[]): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const parts = ['# Node reference', '', 'Generated by `segflow nodes --markdown` from the option schemas the graph loader validates with', '(test/cli.test.ts checks that this file matches them; regenerate: `node bin/segflow.js nodes --markdown > docs/nodes.md`).', ''];
  for (const s of infos) {
    parts.push(`## ${s.type}`, '', `${s.description}. Role: ${s.role}; in: ${ports(s.inputs, s.optionalInputs)}; out: ${ports(s.outputs)}${s.optionalInputs.length ? ' (? = optional)' : ''}.`, '');
    if (!s.options.length) {
      parts.push('No options.', '');
      continue;
    }
    parts.push('| option | type | default | range | description |', '|---|---|---|---|---|');
    for (const o of s.options) parts.push(`| \`${o.name}\` | ${esc(o.type)} | ${o.required ? '**required**' : o.default !== undefined ? `\`${esc(o.default)}\`` : '—'} | ${esc(o.range) || '—'} | ${esc(o.description)} |`);
    parts.push('');
  }
  return parts.join('\n');
}
