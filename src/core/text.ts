/**
 * Text from outside (file names, graph values, a peer's messages) made safe to show on one line:
 * the characters that must not reach a terminal or a log as they are, and how they are escaped.
 * Used by the CLI's progress lines (src/apps/process.ts), the graph loader's errors and the ZeroMQ
 * wire's peer text (src/codecs/zmq-wire.ts, which replaces them with '?').
 *
 * ```ts
 * escapeText('a\nb\u202ec') // 'a\\nb\\u202ec'
 * ```
 */

/**
 * C0 and C1 controls (line breaks, ESC of terminal sequences), DEL, the Unicode line and paragraph
 * separators, and the bidirectional marks, embeddings, overrides and isolates, which can reorder what
 * a line shows. Global: use it with `replace` only (a global regex keeps state across `test` calls).
 */
export const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/** `s` with every UNSAFE_TEXT character escaped: `\n`, `\r`, `\t`, `\x1b`, `\u202e`. */
export function escapeText(s: string): string {
  return s.replace(UNSAFE_TEXT, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
  });
}
