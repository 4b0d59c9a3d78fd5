/** Placeholder: `segflow eval` is being built. */
export async function cmdEval(_argv: string[]): Promise<number> {
  process.stderr.write('segflow eval: not built yet\n');
  return 1;
}
