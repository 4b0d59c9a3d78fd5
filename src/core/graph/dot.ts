/**
 * Graphviz DOT for a graph: nodes with their type and key options, edges with port names and queue
 * policy; the nodes of one executor drawn inside one box (one worker thread), `features` edges bold.
 */
import type { GraphDef } from './loader.ts';

export function toDot(g: GraphDef): string {
  const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['digraph segflow {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];'];
  const fill = { source: '#d7e9f7', transform: '#eeeeee', sink: '#dff2d8' } as const;
  const nodeLines = new Map<string | undefined, string[]>();
  for (const n of g.nodes) {
    // The options the graph file gives (defaults left out), when the loader recorded them.
    const opts = Object.entries(n.options)
      .filter(([k, v]) => typeof v !== 'object' && v !== false && v !== 0 && v !== '' && (!n.given || n.given.includes(k)))
      .slice(0, 4)
      .map(([k, v]) => [k, shown(k, v)] as const)
      .map(([k, v]) => `${k}: ${v.length > 28 ? '…' + v.slice(-27) : v}`);
    const at = nodeLines.get(n.executor) ?? [];
    at.push(`${q(n.name)} [label=${q([`${n.name}`, `(${n.type})`, ...opts].join('\n'))}, fillcolor=${q(fill[n.spec.role])}];`);
    nodeLines.set(n.executor, at);
  }
  for (const [e, ls] of nodeLines) {
    if (e === undefined) {
      for (const l of ls) lines.push(`  ${l}`);
      continue;
    }
    lines.push(`  subgraph ${q(`cluster_${e}`)} {`, `    label=${q(`executor ${e} (one worker thread)`)}; style="dashed,rounded"; fontname="Helvetica"; fontsize=10; color="#888888";`);
    for (const l of ls) lines.push(`    ${l}`);
    lines.push('  }');
  }
  for (const n of g.nodes) {
    for (const [port, r] of Object.entries(n.inputs)) {
      const pol = n.queue.policy === 'freshest' ? ` [freshest ${n.queue.size}]` : '';
      const features = n.spec.inputs[port] === 'features';
      lines.push(`  ${q(r.node)} -> ${q(n.name)} [label=${q(`${r.port} → ${port}${pol}`)}${pol ? ', style=dashed' : ''}${features ? ', style=bold, color="#1f5fa8"' : ''}];`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** An option's value as drawn: secrets (a token, a password in a URL such as rtsp://user:pass@camera) hidden. */
function shown(key: string, v: unknown): string {
  if (/token|password|secret/i.test(key)) return '***';
  return String(v).replace(/(\b[a-z][\w+.-]*:\/\/[^:/@\s]+):[^@/]*@/gi, '$1:***@');
}
