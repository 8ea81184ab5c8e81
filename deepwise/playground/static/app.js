// deepwise playground: the page. Plain JavaScript, no library. Every number shown here comes
// from the server, where deepwise trains the network; this file only draws and sends choices.
"use strict";

const BLUE = [8, 119, 189], ORANGE = [245, 147, 34], WHITE = [232, 234, 235];
const LRS = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REGS = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.5];
const SPEEDS = [1, 10, 30, 100, 300, 1000];
const LABELS = {circle: "circle", xor: "xor", gauss: "gaussians", spiral: "spiral",
  plane: "plane (reg.)", bumps: "bumps (reg.)", digits: "digits (CNN)"};

const state = { id: null, options: null, info: null, frame: null, config: null, source: null,
  selected: null, busy: false, featurePictures: {} };
const $ = (id) => document.getElementById(id);

// ---- talking to the server -------------------------------------------------------------------
async function api(path, body, method) {
  const opts = body === undefined ? { method: method || "GET" }
    : { method: method || "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) };
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || `${r.status}`);
  return data;
}

function status(text, bad) {
  const el = $("status");
  el.textContent = text;
  el.style.color = bad ? "#b3261e" : "";
}

function sessionPath(what) { return `/api/sessions/${state.id}/${what}`; }

async function newSession(config) {
  const r = await api("/api/sessions", { config });
  state.id = r.id;
  applyInfo(r.info);
  render(r.frame);
  openStream();
}

function openStream() {
  if (state.source) state.source.close();
  const src = new EventSource(sessionPath("stream"));
  src.onmessage = (ev) => render(JSON.parse(ev.data));
  src.onerror = async () => {
    // the session may have been reaped (idle) or the server restarted: start a new one
    if (src.readyState === EventSource.CLOSED || src.readyState === EventSource.CONNECTING) {
      src.close();
      try {
        await api(sessionPath("info"));
        setTimeout(openStream, 1000);
      } catch (e) {
        status("the session ended; starting a new one", true);
        setTimeout(() => newSession(state.config).catch((err) => status(err.message, true)), 1000);
      }
    }
  };
  state.source = src;
}

async function configure(changes) {
  if (!state.id) return;
  try {
    const r = await api(sessionPath("config"), changes);
    applyInfo(r.info);
    render(r.frame);
    status("");
  } catch (e) { status(e.message, true); }
}

async function control(action) {
  try { render(await api(sessionPath("control"), { action })); status(""); }
  catch (e) { status(e.message, true); }
}

// ---- drawing helpers ---------------------------------------------------------------------------
function decode(b64) {
  const s = atob(b64), a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}

function colour(v) { // v in [-1, 1]: orange - white - blue
  const c = v >= 0 ? BLUE : ORANGE, t = Math.min(1, Math.abs(v));
  return [0, 1, 2].map((k) => Math.round(WHITE[k] + (c[k] - WHITE[k]) * t));
}

function drawMap(canvas, bytes, n, discrete, pixelated) {
  const off = document.createElement("canvas");
  off.width = off.height = n;
  const ctx = off.getContext("2d"), img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    let v = bytes[i] / 127.5 - 1;
    if (discrete) v = v >= 0 ? 1 : -1;
    const c = colour(v);
    img.data.set([c[0], c[1], c[2], 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  const g = canvas.getContext("2d");
  g.imageSmoothingEnabled = !discrete && !pixelated;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.drawImage(off, 0, 0, canvas.width, canvas.height);
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "-";
  return Number(v).toFixed(digits === undefined ? 3 : digits);
}

// ---- the controls -------------------------------------------------------------------------------
function fillSelect(id, values, label) {
  const el = $(id);
  el.innerHTML = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = String(v);
    o.textContent = label ? label(v) : String(v);
    el.appendChild(o);
  }
}

function setupControls() {
  const o = state.options;
  fillSelect("lr", LRS);
  fillSelect("activation", o.activations);
  fillSelect("optimizer", o.optimizers, (v) => ({ sgd: "SGD", momentum: "SGD + momentum", adam: "Adam" })[v]);
  fillSelect("l1", REGS);
  fillSelect("l2", REGS);
  fillSelect("dropout", DROPOUTS);
  fillSelect("speed", SPEEDS, (v) => `${v} steps/s`);
  for (const id of ["lr", "l1", "l2", "dropout", "speed"]) {
    $(id).addEventListener("change", () => configure({ [id]: Number($(id).value) }));
  }
  for (const id of ["activation", "optimizer"]) {
    $(id).addEventListener("change", () => configure({ [id]: $(id).value }));
  }
  const sliders = { train_ratio: (v) => v / 100, noise: (v) => v / 100, batch_size: (v) => v,
    n_samples: (v) => v };
  for (const [id, conv] of Object.entries(sliders)) {
    $(id).addEventListener("input", () => { $(id + "Val").textContent = showSlider(id, Number($(id).value)); });
    $(id).addEventListener("change", () => configure({ [id]: conv(Number($(id).value)) }));
  }
  $("reseed").addEventListener("click", () => configure({ seed: (state.config.seed + 1) % 2147483647 }));
  $("play").addEventListener("click", () => control(state.frame && state.frame.playing ? "pause" : "play"));
  $("step").addEventListener("click", () => control("step"));
  $("reset").addEventListener("click", () => control("reset"));
  $("addLayer").addEventListener("click", () => {
    const h = state.config.hidden.slice();
    const most = isDigits() ? o.max_conv : o.max_layers;
    if (h.length < most) { h.push(h.length ? h[h.length - 1] : (isDigits() ? 4 : 2)); configure({ hidden: h }); }
  });
  $("removeLayer").addEventListener("click", () => {
    const h = state.config.hidden.slice();
    if (h.length) { h.pop(); configure({ hidden: h }); }
  });
  $("showTest").addEventListener("change", () => drawBoundary());
  $("discretize").addEventListener("change", () => drawBoundary());
  $("boundary").addEventListener("click", onBoundaryClick);
  $("showCode").addEventListener("click", showCode);
  $("copyCode").addEventListener("click", copyCode);
  window.addEventListener("resize", () => drawWires());
  // the data sets, each with a small picture of its points
  const box = $("datasets");
  for (const name of o.datasets) {
    const b = document.createElement("button");
    b.dataset.name = name;
    const c = document.createElement("canvas");
    c.width = c.height = 48;
    if (o.previews[name]) drawPreview(c, o.previews[name], o.regression.includes(name));
    else drawDigitsIcon(c);
    b.appendChild(c);
    b.appendChild(document.createTextNode(LABELS[name] || name));
    b.addEventListener("click", () => {
      if (name === state.config.dataset) return;
      // the digits' CNN: conv channels per layer (at most max_conv layers)
      if (name === "digits") configure({ dataset: name, hidden: [4, 8] });
      else configure({ dataset: name });
    });
    box.appendChild(b);
  }
}

function showSlider(id, v) {
  if (id === "train_ratio") return `${v}%`;
  if (id === "noise") return `${v}%`;
  return String(v);
}

function drawPreview(canvas, points, regression) {
  const g = canvas.getContext("2d"), r = state.options.radius;
  g.fillStyle = "#fafafa";
  g.fillRect(0, 0, 48, 48);
  for (const [x, y, t] of points) {
    const v = regression ? t : (t > 0.5 ? 1 : -1);
    const c = colour(v);
    g.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
    g.fillRect((x + r) / (2 * r) * 46, (r - y) / (2 * r) * 46, 2.5, 2.5);
  }
}

function drawDigitsIcon(canvas) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#fafafa";
  g.fillRect(0, 0, 48, 48);
  g.fillStyle = "#183d4e";
  g.font = "bold 18px sans-serif";
  g.fillText("0-9", 8, 30);
}

function isDigits() { return state.info && state.info.kind === "digits"; }

function syncControls() {
  const c = state.config;
  $("lr").value = String(c.lr);
  $("activation").value = c.activation;
  $("optimizer").value = c.optimizer;
  $("l1").value = String(c.l1);
  $("l2").value = String(c.l2);
  $("dropout").value = String(c.dropout);
  $("speed").value = String(c.speed);
  // a value that is not in a list (set from the address bar) is added to it
  for (const id of ["lr", "l1", "l2", "dropout", "speed"]) {
    if ($(id).value !== String(c[id])) {
      const opt = document.createElement("option");
      opt.value = opt.textContent = String(c[id]);
      $(id).appendChild(opt);
      $(id).value = String(c[id]);
    }
  }
  const sl = { train_ratio: Math.round(c.train_ratio * 100), noise: Math.round(c.noise * 100),
    batch_size: c.batch_size, n_samples: c.n_samples };
  for (const [id, v] of Object.entries(sl)) { $(id).value = v; $(id + "Val").textContent = showSlider(id, v); }
  $("seedVal").textContent = c.seed;
  for (const b of $("datasets").children) b.classList.toggle("active", b.dataset.name === c.dataset);
  const n = c.hidden.length, what = isDigits() ? "conv" : "hidden";
  $("layerCount").textContent = `${n} ${what} layer${n === 1 ? "" : "s"}`;
  $("inputName").textContent = isDigits() ? "8x8 image" : "Features";
  $("pointControls").hidden = $("n_samples").parentElement.hidden = isDigits();
  $("digitsNote").hidden = !isDigits();
  $("testAccBox").style.display = $("trainAccBox").style.display = state.info.regression ? "none" : "";
}

// ---- the network ---------------------------------------------------------------------------------
function applyInfo(info) {
  state.info = info;
  state.config = info.config;
  state.selected = null;
  $("explainHead").textContent = "";
  $("explainSteps").innerHTML = "";
  $("code").textContent = "";
  const digits = info.kind === "digits";
  $("net").hidden = $("netHint").hidden = digits;
  $("boundary").hidden = $("boundaryChecks").hidden = digits;
  $("digitsView").hidden = $("digitPanel").hidden = !digits;
  $("explainHint").textContent = digits
    ? "Pick a test image on the right: deepwise runs the CNN on that image alone and narrates its backward pass, node by node (deepwise.explain.backprop): outgoing gradient = incoming gradient \u00d7 local derivative."
    : "Click a training point on the output picture: deepwise runs the forward pass for that point alone and narrates its backward pass, node by node (deepwise.explain.backprop): outgoing gradient = incoming gradient \u00d7 local derivative.";
  if (digits) buildDigits(); else buildNetwork();
  syncControls();
}

function buildNetwork() {
  const cols = $("columns");
  cols.innerHTML = "";
  const info = state.info, c = state.config;
  // the input features: every one the page offers; the active ones carry their picture
  const fcol = layerColumn("features");
  const pics = {};
  for (const f of info.features) pics[f.name] = f;
  for (const name of state.options.features) {
    const node = nodeBox(fcol, "feature");
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    node.appendChild(label);
    if (pics[name]) drawMap(node.querySelector("canvas"), decode(pics[name].data), info.neuron_grid, false);
    else node.classList.add("off");
    node.dataset.feature = name;
    node.addEventListener("click", () => toggleFeature(name));
  }
  c.hidden.forEach((width, k) => {
    const col = layerColumn("");
    const title = col.querySelector(".title");
    const plus = document.createElement("button"), minus = document.createElement("button");
    plus.className = minus.className = "small";
    plus.textContent = "+";
    minus.textContent = "\u2212";
    plus.title = "add a neuron";
    minus.title = "remove a neuron";
    plus.addEventListener("click", () => setWidth(k, width + 1));
    minus.addEventListener("click", () => setWidth(k, width - 1));
    title.appendChild(plus);
    title.appendChild(minus);
    title.appendChild(document.createElement("br"));
    title.appendChild(document.createTextNode(`${width} neuron${width === 1 ? "" : "s"}`));
    for (let j = 0; j < width; j++) nodeBox(col, "hidden").dataset.unit = `${k}:${j}`;
  });
  const ocol = layerColumn("output");
  nodeBox(ocol, "output");
  drawWires();
}

function layerColumn(title) {
  const col = document.createElement("div");
  col.className = "layer";
  const t = document.createElement("div");
  t.className = "title";
  t.textContent = title;
  col.appendChild(t);
  $("columns").appendChild(col);
  return col;
}

function nodeBox(col, kind) {
  const node = document.createElement("div");
  node.className = `node ${kind}`;
  const c = document.createElement("canvas");
  c.width = c.height = 48;
  node.appendChild(c);
  col.appendChild(node);
  return node;
}

function toggleFeature(name) {
  const on = new Set(state.config.features);
  if (on.has(name)) { if (on.size === 1) return; on.delete(name); } else on.add(name);
  configure({ features: state.options.features.filter((f) => on.has(f)) });
}

function setWidth(k, w) {
  if (w < 1 || w > state.options.max_neurons) return;
  const h = state.config.hidden.slice();
  h[k] = w;
  configure({ hidden: h });
}

function drawWires() {
  const svg = $("wires"), net = $("net");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const frame = state.frame;
  if (!frame || !frame.weights) return;
  const base = net.getBoundingClientRect();
  const cols = [...$("columns").children];
  // the nodes of each layer: the active features, the hidden neurons, the output
  const layers = cols.map((col, k) => [...col.querySelectorAll(".node")].filter(
    (n) => k > 0 || !n.classList.contains("off")));
  const ns = "http://www.w3.org/2000/svg";
  frame.weights.forEach((lin, k) => {
    const from = layers[k], to = layers[k + 1];
    if (!from || !to) return;
    lin.weight.forEach((row, j) => row.forEach((w, i) => {
      if (!from[i] || !to[j]) return;
      const a = from[i].getBoundingClientRect(), b = to[j].getBoundingClientRect();
      const line = document.createElementNS(ns, "line");
      line.setAttribute("x1", a.right - base.left);
      line.setAttribute("y1", a.top + a.height / 2 - base.top);
      line.setAttribute("x2", b.left - base.left);
      line.setAttribute("y2", b.top + b.height / 2 - base.top);
      line.setAttribute("stroke", w >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)");
      line.setAttribute("stroke-width", Math.min(8, 0.4 + 2.2 * Math.abs(w)).toFixed(2));
      line.setAttribute("stroke-opacity", "0.75");
      const title = document.createElementNS(ns, "title");
      title.textContent = `weight ${w}`;
      line.appendChild(title);
      svg.appendChild(line);
    }));
  });
}

// ---- a frame: the state of training now ---------------------------------------------------------
function render(frame) {
  if (!frame || frame.version === undefined) return;
  state.frame = frame;
  $("stepCount").textContent = frame.step;
  $("epochCount").textContent = frame.epoch;
  $("play").innerHTML = frame.playing ? "&#10074;&#10074;" : "&#x25B6;";
  $("play").classList.toggle("playing", frame.playing);
  $("trainLoss").textContent = fmt(frame.train_loss);
  $("testLoss").textContent = fmt(frame.test_loss);
  $("trainAcc").textContent = fmt(frame.train_acc);
  $("testAcc").textContent = fmt(frame.test_acc);
  $("note").textContent = frame.note || "";
  drawLoss(frame.history);
  drawFlow(frame.gradflow);
  drawVerdict(frame.overfitting);
  markDead(frame.dead);
  if (isDigits()) { renderDigits(frame); return; }
  const n = state.info.neuron_grid;
  const hidden = [...document.querySelectorAll(".node.hidden")];
  for (const node of hidden) {
    const [k, j] = node.dataset.unit.split(":").map(Number);
    const pic = frame.neurons[k] && frame.neurons[k][j];
    if (pic) drawMap(node.querySelector("canvas"), decode(pic.data), n, false);
  }
  const outNode = document.querySelector(".node.output canvas");
  if (outNode) drawMap(outNode, decode(frame.output.data), state.info.grid, false);
  drawBoundary();
  drawWires();
}

// ---- the digits' CNN ---------------------------------------------------------------------------
function drawGray(canvas, bytes, n, offset) {
  const off = document.createElement("canvas");
  off.width = off.height = n;
  const ctx = off.getContext("2d"), img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const v = 255 - bytes[(offset || 0) + i];
    img.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
  const g = canvas.getContext("2d");
  g.imageSmoothingEnabled = false;
  g.drawImage(off, 0, 0, canvas.width, canvas.height);
}

function buildDigits() {
  const info = state.info, c = state.config;
  const rows = $("convRows");
  rows.innerHTML = "";
  c.hidden.forEach((ch, k) => {
    const row = document.createElement("div");
    row.className = "convrow";
    const side = 8 >> k;
    const t = document.createElement("span");
    t.textContent = `conv ${k + 1}: Conv2d 3x3 (${side}x${side}) → ${c.activation} → max-pool 2: ${ch} channel${ch === 1 ? "" : "s"}`;
    const plus = document.createElement("button"), minus = document.createElement("button");
    plus.className = minus.className = "small";
    plus.textContent = "+";
    minus.textContent = "−";
    plus.addEventListener("click", () => setWidth(k, ch + 1));
    minus.addEventListener("click", () => setWidth(k, ch - 1));
    row.append(plus, minus, t);
    rows.appendChild(row);
  });
  const last = c.hidden.length ? c.hidden[c.hidden.length - 1] * (8 >> c.hidden.length) ** 2 : 64;
  const tail = document.createElement("div");
  tail.className = "convrow";
  tail.textContent = `then Flatten → Linear(${last}, 10) → the 10 class scores`;
  rows.appendChild(tail);
  const strip = $("strip"), bytes = decode(info.strip);
  strip.innerHTML = "";
  info.strip_labels.forEach((label, i) => {
    const cv = document.createElement("canvas");
    cv.width = cv.height = 32;
    cv.title = `test image ${i} (a ${label})`;
    drawGray(cv, bytes, 8, 64 * i);
    cv.addEventListener("click", () => explainDigit(i));
    strip.appendChild(cv);
  });
}

function renderDigits(frame) {
  $("sampleIdx").textContent = `#${frame.sample} (a ${frame.label})`;
  const filters = $("filters");
  filters.innerHTML = "";
  for (const f of frame.filters) {
    const cv = document.createElement("canvas");
    cv.width = cv.height = 44;
    drawMap(cv, decode(f.data), 3, false, true);
    filters.appendChild(cv);
  }
  const maps = $("featureMaps");
  maps.innerHTML = "";
  frame.maps.forEach((m, k) => {
    const row = document.createElement("div");
    row.className = "maprow";
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = `conv ${k + 1} (${m.side}x${m.side})`;
    row.appendChild(what);
    for (const ch of m.channels) {
      const cv = document.createElement("canvas");
      cv.width = cv.height = 52;
      drawMap(cv, decode(ch.data), m.side, false, true);
      row.appendChild(cv);
    }
    maps.appendChild(row);
  });
  const bytes = decode(state.info.strip);
  if (frame.sample < state.info.strip_labels.length) drawGray($("digitSample"), bytes, 8, 64 * frame.sample);
  [...$("strip").children].forEach((cv, i) => cv.classList.toggle("active", i === frame.sample));
  const probs = $("probs");
  probs.innerHTML = "";
  frame.probs.forEach((p, k) => {
    const row = document.createElement("div");
    row.className = `bar${k === frame.label ? " true" : ""}`;
    const a = document.createElement("span");
    a.textContent = String(k);
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.appendChild(fill);
    const b = document.createElement("span");
    b.textContent = p === null ? "-" : p.toFixed(3);
    row.append(a, track, b);
    probs.appendChild(row);
  });
}

async function explainDigit(i) {
  try { showSteps(await api(sessionPath("explain"), { index: i, split: "test" })); }
  catch (e) { status(e.message, true); }
}

function drawBoundary() {
  const frame = state.frame, info = state.info;
  if (!frame) return;
  const canvas = $("boundary"), g = canvas.getContext("2d");
  drawMap(canvas, decode(frame.output.data), info.grid, $("discretize").checked);
  const r = info.radius, W = canvas.width;
  const px = (x) => (x + r) / (2 * r) * W, py = (y) => (r - y) / (2 * r) * W;
  const dot = (p, test) => {
    const v = info.regression ? p[2] : (p[2] > 0.5 ? 1 : -1);
    const c = colour(v).map((k) => Math.round(k * 0.85)); // a shade darker than the background
    g.beginPath();
    g.arc(px(p[0]), py(p[1]), 3.2, 0, 2 * Math.PI);
    g.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`;
    g.fill();
    g.lineWidth = 1;
    g.strokeStyle = test ? "#000" : "#fff";
    g.stroke();
  };
  for (const p of info.train) dot(p, false);
  if ($("showTest").checked) for (const p of info.test) dot(p, true);
  if (state.selected !== null && info.train[state.selected]) {
    const p = info.train[state.selected];
    g.beginPath();
    g.arc(px(p[0]), py(p[1]), 8, 0, 2 * Math.PI);
    g.lineWidth = 2;
    g.strokeStyle = "#000";
    g.stroke();
  }
}

function drawLoss(h) {
  const canvas = $("lossChart"), g = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  g.clearRect(0, 0, W, H);
  if (!h || h.step.length < 1) return;
  const vals = h.train.concat(h.test).filter((v) => v !== null);
  const top = Math.max(...vals, 1e-9) * 1.05;
  const last = Math.max(h.step[h.step.length - 1], 1);
  const line = (ys, colour, dash) => {
    g.beginPath();
    g.setLineDash(dash);
    g.strokeStyle = colour;
    g.lineWidth = 1.5;
    let started = false;
    ys.forEach((v, i) => {
      if (v === null) return;
      const x = 4 + (W - 8) * h.step[i] / last, y = H - 4 - (H - 8) * v / top;
      if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
    });
    g.stroke();
    g.setLineDash([]);
  };
  line(h.train, "#666", []);
  line(h.test, "#000", []);
  g.fillStyle = "#999";
  g.font = "10px sans-serif";
  g.fillText(top.toPrecision(2), 4, 11);
  g.fillText(`step ${last}`, W - 60, H - 6);
}

function drawFlow(f) {
  const box = $("flowBars");
  box.innerHTML = "";
  if (!f || !f.grad_norm.length) {
    box.textContent = "measured while training (press play)";
  } else {
    // a log scale from 1e-6 to 1e2
    const pos = (v) => Math.max(0, Math.min(1, (Math.log10(Math.max(v, 1e-12)) + 6) / 8));
    f.layers.forEach((name, k) => {
      const v = f.grad_norm[k], u = f.update_ratio[k];
      const row = document.createElement("div");
      row.className = "bar";
      const a = document.createElement("span");
      a.textContent = name;
      const track = document.createElement("div");
      track.className = "track";
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.width = `${(100 * pos(v || 0)).toFixed(1)}%`;
      track.appendChild(fill);
      const b = document.createElement("span");
      b.textContent = `${v === null ? "-" : v.toExponential(1)}  upd ${u === null ? "-" : u.toExponential(1)}`;
      row.append(a, track, b);
      box.appendChild(row);
    });
  }
  $("flowWarn").textContent = (f && f.messages.length) ? f.messages.join("\n") : "";
}

function markDead(dead) {
  const box = $("dead");
  if (!dead || !dead.length) {
    box.textContent = state.config.activation === "relu" ? "no ReLU layer" : "only for ReLU (a unit that is 0 for every training point)";
    return;
  }
  box.textContent = dead.map((d) => `${d.layer}: ${d.dead} of ${d.units} dead`).join("; ");
}

function drawVerdict(o) {
  const el = $("verdict");
  el.className = `verdict ${o.state}`;
  el.textContent = `Overfitting monitor: ${o.verdict}` + (o.gap !== null ? ` (test - train loss ${fmt(o.gap)})` : "");
  if (o.messages.length) {
    const d = document.createElement("details"), s = document.createElement("summary"), p = document.createElement("pre");
    s.textContent = "what deepwise.explain.OverfittingMonitor says";
    p.textContent = o.messages[o.messages.length - 1];
    d.append(s, p);
    el.appendChild(d);
  }
}

// ---- one point's backward pass ---------------------------------------------------------------
async function onBoundaryClick(ev) {
  const info = state.info, canvas = $("boundary");
  const rect = canvas.getBoundingClientRect();
  const r = info.radius;
  const x = (ev.clientX - rect.left) / rect.width * 2 * r - r;
  const y = r - (ev.clientY - rect.top) / rect.height * 2 * r;
  let best = -1, bestD = Infinity;
  info.train.forEach((p, i) => {
    const d = (p[0] - x) ** 2 + (p[1] - y) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  });
  if (best < 0 || Math.sqrt(bestD) > 0.6) return;
  state.selected = best;
  drawBoundary();
  try { showSteps(await api(sessionPath("explain"), { index: best, split: "train" })); }
  catch (e) { status(e.message, true); }
}

function showSteps(e) {
  if (e.point === null) {
    $("explainHead").textContent =
      `Test image with label ${e.target}: the network says ${e.output}; ${e.loss_name} = ${fmt(e.loss, 4)}. ` +
      `Backward visits ${e.steps.length} ops, from the loss back to the first filters:`;
  } else $("explainHead").textContent =
    `Point (x1, x2) = (${fmt(e.point[0], 2)}, ${fmt(e.point[1], 2)}), target ${fmt(e.target, 2)}: ` +
    `the network outputs ${fmt(e.output, 4)}, ${e.loss_name} = ${fmt(e.loss, 4)}. ` +
    `Backward visits ${e.steps.length} ops, from the loss back to the weights:`;
  const box = $("explainSteps");
  box.innerHTML = "";
  for (const s of e.steps) {
    const div = document.createElement("div");
    div.className = "step";
    const head = document.createElement("div");
    const op = document.createElement("span");
    op.className = "op";
    op.textContent = s.label;
    head.append(op, document.createTextNode(`  ${s.input_shapes.map((t) => t ? `(${t})` : "-").join(", ")} \u2192 ${s.output_shapes.map((t) => `(${t})`).join(", ")}`));
    const deriv = document.createElement("div");
    deriv.className = "deriv";
    deriv.textContent = s.derivative;
    div.append(head, deriv);
    s.grad_outputs.forEach((g, i) => {
      if (g === null) return;
      const row = document.createElement("div");
      row.className = "grad";
      row.innerHTML = "<span class='in'>incoming</span> ";
      row.appendChild(document.createTextNode(`dL/d(output ${i}) = ${g}`));
      div.appendChild(row);
    });
    s.grad_inputs.forEach((g, i) => {
      if (g === null) return;
      const row = document.createElement("div");
      row.className = "grad";
      row.innerHTML = "<span class='out'>outgoing</span> ";
      row.appendChild(document.createTextNode(`dL/d(${s.inputs[i]}) = ${g}`));
      div.appendChild(row);
    });
    box.appendChild(div);
  }
  if (e.leaves.length) {
    const div = document.createElement("div");
    div.className = "step";
    const t = document.createElement("div");
    t.className = "op";
    t.textContent = "Gradients left on the parameters (.grad) by this one point:";
    div.appendChild(t);
    for (const [name, g] of e.leaves) {
      const row = document.createElement("div");
      row.className = "grad";
      row.textContent = `${name}: ${g}`;
      div.appendChild(row);
    }
    box.appendChild(div);
  }
}

// ---- show me the code -----------------------------------------------------------------------------
async function showCode() {
  try {
    const r = await api(sessionPath("code"));
    $("code").textContent = r.code;
    $("copied").textContent = state.frame && state.frame.playing
      ? `the run up to step ${r.step}; training goes on (pause, then show the code again, to compare the losses)`
      : `the run up to step ${r.step}: it prints the losses shown above`;
  } catch (e) { status(e.message, true); }
}

async function copyCode() {
  if (!$("code").textContent) await showCode();
  const text = $("code").textContent;
  try { await navigator.clipboard.writeText(text); $("copied").textContent = "copied"; }
  catch (e) {
    const range = document.createRange();
    range.selectNodeContents($("code"));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    $("copied").textContent = "selected: press Ctrl-C";
  }
}

// ---- start: the options, then a session with the address bar's choices ----------------------
function configFromAddress() {
  const q = new URLSearchParams(window.location.search), cfg = {};
  const lists = { features: (v) => v.split(","), hidden: (v) => v === "" ? [] : v.split(",").map(Number) };
  const strings = new Set(["dataset", "activation", "optimizer"]);
  for (const [k, v] of q.entries()) {
    if (k === "play") continue;
    if (lists[k]) cfg[k] = lists[k](v);
    else if (strings.has(k)) cfg[k] = v;
    else cfg[k] = Number(v);
  }
  return cfg;
}

async function main() {
  try {
    state.options = await api("/api/options");
    setupControls();
    await newSession(configFromAddress());
    if (new URLSearchParams(window.location.search).get("play") === "1") await control("play");
    status("connected: deepwise trains on the server; this page draws what it sends");
  } catch (e) { status(`could not start: ${e.message}`, true); }
}

main();
