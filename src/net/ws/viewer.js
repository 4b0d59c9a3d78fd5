// segflow viewer (no build step). Lists streams from /streams, subscribes to one over
// /ws, draws the JPEG video (when the graph sends it) with the mask from the labels
// on top, a class legend, fps and latency. The message decoder mirrors
// src/ws/protocol.ts (docs/websocket-protocol.md, version 1).
// A stream that ends (the server's `end` message, or a close with 1001 "going away")
// is shown as ended: a banner over the last frame (dimmed), no WebSocket reconnect
// loop. The page then asks /streams every ENDED_POLL_MS whether the stream is back (a
// new run) and reconnects when it is; "reconnect now" asks at once. A connection lost
// without an end (server killed, network) is retried every second as before.
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const $ = (id) => document.getElementById(id);
  const canvas = $('view');
  const g = canvas.getContext('2d');
  const maskCanvas = document.createElement('canvas');
  const mg = maskCanvas.getContext('2d');
  const alphaInput = $('alpha');
  const initialAlpha = Number(params.get('alpha'));
  if (params.has('alpha') && initialAlpha >= 0 && initialAlpha <= 1) alphaInput.value = String(Math.round(initialAlpha * 100));

  /** Exposed for debugging and tests. */
  const state = (window.segflowViewer = {
    stream: null, hello: null, classes: [], palette: [],
    labels: 0, jpegs: 0, drawn: 0, dropped: 0, errors: [],
    fps: 0, latencyMs: NaN, mediaLatencyMs: NaN, lastSeq: -1,
    /** The `end` message (or {stream, code} for a 1001 close without one) while the stream is ended; null otherwise. */
    ended: null, ends: 0, endPolls: 0,
  });
  /** How often an ended stream is looked for in /streams (one small GET; no WebSocket attempts); ?retry=SECONDS (1..3600). */
  const retry = Number(params.get('retry'));
  const ENDED_POLL_MS = params.has('retry') && retry >= 1 && retry <= 3600 ? retry * 1000 : 5000;

  const HEADER = 48;
  const MAGIC = 0x4c464753;
  const nowMs = () => performance.timeOrigin + performance.now();

  function decode(buf) {
    const v = new DataView(buf);
    if (buf.byteLength < HEADER || v.getUint32(0, true) !== MAGIC) throw new Error('not a segflow message');
    if (v.getUint8(4) !== 1) throw new Error(`unsupported protocol version ${v.getUint8(4)}`);
    const len = v.getUint32(44, true);
    return {
      type: v.getUint8(5), flags: v.getUint8(6), encoding: v.getUint8(7),
      seq: Number(v.getBigUint64(8, true)), ptsMs: v.getFloat64(16, true),
      captureTimeMs: v.getFloat64(24, true), sendTimeMs: v.getFloat64(32, true),
      width: v.getUint16(40, true), height: v.getUint16(42, true),
      payload: new Uint8Array(buf, HEADER, len),
    };
  }

  function classIds(m) {
    const n = m.width * m.height;
    if (m.encoding === 0) return m.payload;
    const out = new Uint8Array(n);
    const p = m.payload;
    let o = 0;
    for (let i = 0; i < p.length && o < n;) {
      const c = p[i++];
      let run = 0, shift = 0, b;
      do { b = p[i++]; run += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80 && i < p.length);
      out.fill(c, o, Math.min(n, o + run));
      o += run;
    }
    return out;
  }

  // --- drawing -------------------------------------------------------------
  let lastIds = null, lastW = 0, lastH = 0, lastBitmap = null;
  const bitmaps = new Map(); // seq -> Promise<ImageBitmap>
  let drawingSeq = -1;

  function paint() {
    if (!lastIds) return;
    const W = lastBitmap ? lastBitmap.width : lastW;
    const H = lastBitmap ? lastBitmap.height : lastH;
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    if (lastBitmap) g.drawImage(lastBitmap, 0, 0);
    else { g.fillStyle = '#000'; g.fillRect(0, 0, W, H); }
    if (maskCanvas.width !== lastW || maskCanvas.height !== lastH) { maskCanvas.width = lastW; maskCanvas.height = lastH; }
    const a = Math.round((Number(alphaInput.value) / 100) * 255);
    const img = mg.createImageData(lastW, lastH);
    const px = new Uint32Array(img.data.buffer);
    const lut = new Uint32Array(256);
    state.palette.forEach((c, i) => { lut[i] = (a << 24) | (c[2] << 16) | (c[1] << 8) | c[0]; }); // little-endian RGBA
    const present = new Uint8Array(256);
    for (let i = 0; i < lastIds.length; i++) { const c = lastIds[i]; present[c] = 1; px[i] = lut[c]; }
    mg.putImageData(img, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(maskCanvas, 0, 0, W, H);
    for (const li of $('legend').children) li.classList.toggle('present', present[Number(li.dataset.id)] === 1);
    state.drawn++;
  }

  function legend() {
    const ul = $('legend');
    ul.replaceChildren(...state.classes.map((name, i) => {
      const li = document.createElement('li');
      li.dataset.id = String(i);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      const c = state.palette[i] || [0, 0, 0];
      sw.style.background = `rgb(${c[0]},${c[1]},${c[2]})`;
      li.append(sw, document.createTextNode(`${i} ${name}`));
      return li;
    }));
  }

  alphaInput.addEventListener('input', () => { $('alphaValue').textContent = `${alphaInput.value}%`; paint(); });
  $('alphaValue').textContent = `${alphaInput.value}%`;

  // --- stats ---------------------------------------------------------------
  const arrivals = [];
  setInterval(() => {
    const t = performance.now();
    while (arrivals.length && t - arrivals[0] > 1000) arrivals.shift();
    state.fps = arrivals.length;
    const f = (x) => (Number.isFinite(x) ? x.toFixed(0) : '–');
    $('stats').textContent = `${state.fps} fps · latency ${f(state.latencyMs)} ms · media latency ${f(state.mediaLatencyMs)} ms · dropped ${state.dropped}`;
  }, 250);

  // --- connection ----------------------------------------------------------
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  let ws = null;

  function status(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('bad', !!bad);
  }

  // --- an ended stream ----------------------------------------------------
  let endedTimer = 0;

  function showEnded(info) {
    state.ended = info;
    const missed = info.count ? `; ${info.count} frames were not sent to this viewer` : '';
    const at = new Date().toLocaleTimeString();
    $('endedText').textContent = `stream ${info.stream} ended at ${at}${missed}. Waiting for a new run (checking every ${ENDED_POLL_MS / 1000} s).`;
    $('ended').hidden = false;
    canvas.classList.add('ended');
    status(`stream ${info.stream} ended`, true);
  }

  function clearEnded() {
    clearTimeout(endedTimer);
    endedTimer = 0;
    state.ended = null;
    $('ended').hidden = true;
    canvas.classList.remove('ended');
  }

  /** After an end: is the stream listed again? Then connect; else look again later. */
  async function lookForStream() {
    clearTimeout(endedTimer);
    endedTimer = 0;
    if (!state.ended) return;
    const name = state.ended.stream;
    state.endPolls++;
    let list = null;
    try {
      const r = await fetch('/streams', { headers: auth, cache: 'no-store' });
      if (r.ok) list = (await r.json()).streams;
    } catch { /* the server is gone for now: look again later */ }
    if (!state.ended) return; // the user picked a stream meanwhile
    if (list && list.some((s) => s.name === name)) {
      fillStreams(list, name);
      return connect(name);
    }
    // Other streams may be there to pick; the ended one stays selected, marked.
    if (list) fillStreams([{ name, ended: true }, ...list], name);
    endedTimer = setTimeout(lookForStream, ENDED_POLL_MS);
  }
  $('reconnect').onclick = () => { if (state.ended) lookForStream(); };

  function ended(info) {
    if (state.ended) return;
    state.ends++;
    showEnded(info);
    endedTimer = setTimeout(lookForStream, ENDED_POLL_MS);
  }

  function connect(name) {
    if (ws) { ws.onclose = null; ws.close(); }
    clearEnded();
    state.stream = name;
    bitmaps.clear();
    const q = new URLSearchParams({ stream: name });
    if (token) q.set('token', token);
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?${q}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => status(`connected to ${name}`);
    const sock = ws;
    ws.onclose = (e) => {
      // The server said the stream is over (an `end` message, then 1001): no reconnect loop.
      if (sock.sawEnd || e.code === 1001) return ended(sock.sawEnd || { stream: name, count: 0, total: state.dropped, code: e.code });
      status(`disconnected (${e.code}); retrying…`, true);
      setTimeout(() => connect(name), 1000);
    };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') return onText(JSON.parse(e.data), sock);
      let m;
      try { m = decode(e.data); } catch (err) { state.errors.push(String(err)); return; }
      if (m.type === 2) {
        state.jpegs++;
        bitmaps.set(m.seq, createImageBitmap(new Blob([m.payload], { type: 'image/jpeg' })));
        return;
      }
      if (m.type !== 1) return;
      state.labels++;
      arrivals.push(performance.now());
      const now = nowMs();
      state.latencyMs = now - m.sendTimeMs;
      state.mediaLatencyMs = Number.isFinite(m.captureTimeMs) ? now - m.captureTimeMs : NaN;
      state.lastSeq = m.seq;
      const ids = classIds(m);
      const pending = bitmaps.get(m.seq);
      for (const k of bitmaps.keys()) if (k <= m.seq) bitmaps.delete(k);
      drawingSeq = m.seq;
      const show = (bmp) => {
        if (drawingSeq !== m.seq) { bmp?.close?.(); return; } // a newer frame overtook this one
        if (bmp) { lastBitmap?.close?.(); lastBitmap = bmp; }
        lastIds = ids; lastW = m.width; lastH = m.height;
        paint();
      };
      if (pending) pending.then(show, (err) => { state.errors.push(String(err)); show(null); });
      else show(null);
    };
  }

  function onText(msg, sock) {
    if (msg.type === 'hello' || msg.type === 'classes') {
      if (msg.type === 'hello') state.hello = msg;
      if (msg.classes.length) { state.classes = msg.classes; state.palette = msg.palette; legend(); }
    } else if (msg.type === 'dropped') {
      state.dropped = msg.total;
    } else if (msg.type === 'end') {
      // The close (1001) follows; the banner shows once it came, so nothing is cut short.
      state.dropped = msg.total;
      sock.sawEnd = { stream: msg.stream, count: msg.count, total: msg.total };
      status(`stream ${msg.stream} ending…`);
    } else if (msg.type === 'error') {
      state.errors.push(msg.message);
      status(msg.message, true);
    }
  }

  async function start() {
    let list = [];
    try {
      const r = await fetch('/streams', { headers: auth, cache: 'no-store' });
      if (r.status === 401) return status('token required: open this page with ?token=…', true);
      list = (await r.json()).streams;
    } catch (err) {
      status(`cannot list streams: ${err}`, true);
      setTimeout(start, 2000);
      return;
    }
    if (!list.length) { status('no streams yet; retrying…', true); setTimeout(start, 1000); return; }
    const sel = $('stream');
    fillStreams(list, params.get('stream'));
    sel.onchange = () => connect(sel.value);
    connect(sel.value);
  }

  /** The stream list, `want` selected when listed (else the first). */
  function fillStreams(list, want) {
    const sel = $('stream');
    sel.replaceChildren(...list.map((s) => new Option(`${s.name}${s.ended ? ' (ended)' : s.video ? '' : ' (mask only)'}`, s.name)));
    sel.value = list.some((s) => s.name === want) ? want : list[0].name;
  }
  start();
})();
