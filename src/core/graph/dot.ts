/** Graphviz DOT for a graph: nodes with their type and key options, edges with port names and queue policy. */
import type { GraphDef } from './loader.ts';

export function toDot(g: GraphDef): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['digraph segflow {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];'];
  const fill = { source: '#d7e9f7', transform: '#eeeeee', sink: '#dff2d8' } as const;
  for (const n of g.nodes) {
    const opts = Object.entries(n.options)
      .filter(([, v]) => typeof v !== 'object' && v !== false && v !== 0 && v !== '')
      .slice(0, 4)
      .map(([k, v]) => `${k}: ${String(v).length > 28 ? '…' + String(v).slice(-27) : v}`);
    lines.push(`  ${q(n.name)} [label=${q([`${n.name}`, `(${n.type})`, ...opts].join('\n'))}, fillcolor=${q(fill[n.spec.role])}];`);
  }
  for (const n of g.nodes) {
    for (const [port, r] of Object.entries(n.inputs)) {
      const pol = n.queue.policy === 'freshest' ? ` [freshest ${n.queue.size}]` : '';
      lines.push(`  ${q(r.node)} -> ${q(n.name)} [label=${q(`${r.port} → ${port}${pol}`)}${pol ? ', style=dashed' : ''}];`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
