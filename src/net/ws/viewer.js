// segflow viewer (no build step). Lists streams from /streams, subscribes to one over
// /ws, draws the JPEG video (when the graph sends it) with the mask from the labels
// on top, a class legend, fps and latency. The message decoder mirrors
// src/ws/protocol.ts (docs/websocket-protocol.md, version 1).
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
  });

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

  function connect(name) {
    if (ws) { ws.onclose = null; ws.close(); }
    state.stream = name;
    bitmaps.clear();
    const q = new URLSearchParams({ stream: name });
    if (token) q.set('token', token);
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?${q}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => status(`connected to ${name}`);
    ws.onclose = (e) => { status(`disconnected (${e.code}); retrying…`, true); setTimeout(() => connect(name), 1000); };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') return onText(JSON.parse(e.data));
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

  function onText(msg) {
    if (msg.type === 'hello' || msg.type === 'classes') {
      if (msg.type === 'hello') state.hello = msg;
      if (msg.classes.length) { state.classes = msg.classes; state.palette = msg.palette; legend(); }
    } else if (msg.type === 'dropped') {
      state.dropped = msg.total;
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
    sel.replaceChildren(...list.map((s) => new Option(`${s.name}${s.video ? '' : ' (mask only)'}`, s.name)));
    const want = params.get('stream');
    sel.value = list.some((s) => s.name === want) ? want : list[0].name;
    sel.onchange = () => connect(sel.value);
    connect(sel.value);
  }
  start();
})();
