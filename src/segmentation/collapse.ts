/**
 * The decomposed segmentation (keyframe-scheduler → two-branch-segmenter →
 * label-propagation, graphs/dashcam-offline.yaml) folded back into one
 * monolithic two-branch-segmenter with the scheduler's options — the same
 * labels (test/executor.test.ts) — for where the segmenter must be one node
 * on the main thread: `process --dispatch` hands it whole to remote workers.
 * Every node then runs on the main thread (executors dropped); a graph whose
 * segmenter feeds a temporal-fuser cannot be folded (throws).
 */
import type { EdgeRef, GraphDef, NodeDef } from '../core/graph/loader.ts';

export function collapseDecomposed(def: GraphDef): GraphDef {
  let nodes = [...def.nodes];
  const byName = () => new Map(nodes.map((n) => [n.name, n]));
  const same = (a: EdgeRef | undefined, node: string, port: string) => a?.node === node && a.port === port;
  for (const g of def.nodes.filter((n) => n.type === 'two-branch-segmenter')) {
    const s = byName().get(g.inputs.frame?.node ?? '');
    if (!s || s.type !== 'keyframe-scheduler') continue;
    if (nodes.some((n) => Object.values(n.inputs).some((r) => same(r, g.name, 'features')))) {
      throw new Error(`${g.name} feeds a temporal-fuser through its features port: the decomposed fuser graph cannot be handed to remote workers`);
    }
    const so = s.options as { keyframeIntervalFrames: number; keyframeChangeThreshold: number; nonKeyFrames: string };
    const merged: NodeDef = { ...g, executor: undefined, inputs: { frame: s.inputs.frame! }, options: { ...g.options, keyframeIntervalFrames: so.keyframeIntervalFrames, keyframeChangeThreshold: so.keyframeChangeThreshold, nonKeyFrames: so.nonKeyFrames } };
    // Propagation of the segmenter's labels over the scheduler's frames: the monolithic segmenter does it itself.
    const carriers = nodes.filter((n) => n.type === 'label-propagation' && same(n.inputs.frame, s.name, 'frame') && same(n.inputs.labels, g.name, 'labels')).map((n) => n.name);
    nodes = nodes
      .filter((n) => !carriers.includes(n.name))
      .map((n) => (n === g ? merged : { ...n, inputs: Object.fromEntries(Object.entries(n.inputs).map(([p, r]) => [p, carriers.includes(r.node) ? { node: g.name, port: 'labels' } : r])) }));
    if (!nodes.some((n) => Object.values(n.inputs).some((r) => r.node === s.name))) nodes = nodes.filter((n) => n.name !== s.name);
  }
  return { ...def, nodes: nodes.map((n) => (n.executor ? { ...n, executor: undefined } : n)) };
}
