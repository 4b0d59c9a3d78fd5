/**
 * src/core/text.ts: the one set of characters kept off terminals and logs, and how they are escaped
 * (the CLI's file names, the graph loader's errors; the ZeroMQ wire replaces them with '?').
 */
import test from 'ava';
import { escapeText, UNSAFE_TEXT } from '../src/core/text.ts';
import { sanitize } from '../src/codecs/zmq-wire.ts';

test('text › controls, separators and bidi overrides are escaped; everything else is kept as it is', (t) => {
  t.is(escapeText('a\nb\r\tc'), 'a\\nb\\r\\tc');
  t.is(escapeText('esc\x1b[2Jred'), 'esc\\x1b[2Jred');
  t.is(escapeText('invoice\u202egnp.mp4'), 'invoice\\u202egnp.mp4');
  t.is(escapeText('x\u2028y\u0085z\u007f'), 'x\\u2028y\\x85z\\x7f');
  t.is(escapeText('行车记录 café – ok'), '行车记录 café – ok');
  // a global regex used twice gives the same answer (replace resets its state)
  t.is(escapeText('\n'), '\\n');
  t.is(escapeText('\n'), '\\n');
  t.true(UNSAFE_TEXT.global);
});

test('text › the ZeroMQ wire replaces the same characters with ? and drops terminal sequences', (t) => {
  t.is(sanitize('a\nb\u202ec\x1b[31mred'), 'a?b?cred');
  t.is(sanitize('行车记录'), '行车记录');
});
