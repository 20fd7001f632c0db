// sumchain dashboard: plain browser JavaScript over the dashboard's JSON API (node/ui/app.py).
// Pages are hash routes: #/ models, #/model/ADDR, #/model/ADDR/contributions|predict|add.
// A new block shows without a reload: the head is polled (works against any node).
"use strict";

const HEAD_POLL_MS = 1000; // without a WebSocket to the node
const SLOW_POLL_MS = 5000; // beside a live newHeads subscription (notices a node going down)
const SHOWN_ENTRIES = 16; // entries of a long parameter vector shown on the page
const KEPT_INPUTS = ["#test-set", "#revert-block", "#diff-from", "#diff-to"]; // survive a re-render
const BLOCK_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7]; // whole blocks

const state = { node: null, head: null, route: null, model: null, chart: null, accuracy: null, selected: null };
window.dashboard = state; // read by the browser tests and the bench

const $ = (sel) => document.querySelector(sel);
// Set an element's text if it is still on the page (the user may have moved on meanwhile).
const setText = (sel, text) => { const el = $(sel); if (el) el.textContent = text; };
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const short = (a) => (a && a.length > 14 ? a.slice(0, 8) + "…" + a.slice(-4) : a);
const eth = (wei) => (Number(wei) / 1e18).toPrecision(4) + " ETH";

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}
function showNotice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(new URL("api/" + path, document.baseURI), options);
  } catch (e) {
    throw new Error("the dashboard server does not answer (" + e.message + ")");
  }
  let answer;
  try {
    answer = await response.json();
  } catch (e) {
    throw new Error("the dashboard server sent no JSON (HTTP " + response.status + ")");
  }
  if (!response.ok || (answer && answer.error && !("archive" in answer))) throw new Error(answer.error || "HTTP " + response.status);
  return answer;
}

// --- live head ------------------------------------------------------------------------------

async function pollHead() {
  try {
    const head = await api("head");
    const changed = !state.head || head.number !== state.head.number;
    state.head = head;
    $("#head").textContent = head.number;
    $("#head").dataset.number = head.number;
    if ($("#error").dataset.fromPoll) { showError(""); delete $("#error").dataset.fromPoll; }
    if (changed && state.route && state.route.page !== "models" && state.onBlock) state.onBlock(head);
  } catch (e) {
    showError(e.message);
    $("#error").dataset.fromPoll = "1";
  }
}

async function loadNode() {
  const node = await api("node");
  state.node = node;
  $("#node").textContent = `chain ${node.chain_id} · ${node.client.split("/")[0]}`;
  $("#archive").innerHTML = node.archive ? '<span class="tag yes">archive</span>' : '<span class="tag no">no archive: history unavailable</span>';
  return node;
}

// --- routing -------------------------------------------------------------------------------

// Whether the page still shows `name` for `address` (a slow answer may land after the user
// moved on; it must not draw over the page they went to).
function stillOn(name, address) {
  const r = parseRoute();
  return r.page === name && r.address === address;
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "model" && parts[1]) return { page: parts[2] || "model", address: parts[1] };
  return { page: "models" };
}

function renderNav(route) {
  const nav = $("#nav");
  if (route.page === "models") { nav.innerHTML = '<a class="active" href="#/">models</a>'; return; }
  const base = "#/model/" + route.address;
  const link = (page, label, href) => `<a href="${href}" class="${route.page === page ? "active" : ""}" id="nav-${page}">${label}</a>`;
  nav.innerHTML = link("models", "models", "#/") + link("model", "model", base) + link("contributions", "contributions", base + "/contributions") +
    link("predict", "predict", base + "/predict") + link("add", "add data", base + "/add");
}

async function route() {
  const r = parseRoute();
  state.route = r;
  state.onBlock = null;
  if (state.chart) { state.chart.destroy(); state.chart = null; }
  renderNav(r);
  showError("");
  showNotice("");
  const page = $("#page");
  page.innerHTML = "<p>loading…</p>";
  page.dataset.page = r.page;
  try {
    if (!state.node) await loadNode();
    if (r.page === "models") await modelsPage(page);
    else if (r.page === "model") await modelPage(page, r.address);
    else if (r.page === "contributions") await contributionsPage(page, r.address);
    else if (r.page === "predict") await predictPage(page, r.address);
    else if (r.page === "add") await addPage(page, r.address);
    page.dataset.ready = "1";
  } catch (e) {
    page.innerHTML = "";
    showError(e.message);
  }
}

// --- models ----------------------------------------------------------------------------------

async function modelsPage(page) {
  const models = await api("models");
  if (!models.length) { page.innerHTML = "<h1>Models</h1><p>No CollaborativeTrainer on this chain yet.</p>"; return; }
  page.innerHTML = `<h1>Models</h1><table id="models"><tr><th>name</th><th>model</th><th class="num">features</th><th>incentive</th><th>owner</th><th class="num">contributions</th><th class="num">last update</th><th>trainer</th></tr>` +
    models.map((m) => `<tr><td><a href="#/model/${m.address}">${esc(m.name)}</a></td><td>${m.model}</td><td class="num">${m.features}</td><td>${m.incentive}</td>` +
      `<td class="mono" title="${m.owner}">${short(m.owner)}</td><td class="num">${m.contributions}</td><td class="num">${m.last_update}</td><td class="mono">${m.address}</td></tr>`).join("") + "</table>";
}

// --- one model -------------------------------------------------------------------------------

function paramRows(params) {
  return Object.entries(params).map(([name, value]) => {
    let text;
    if (Array.isArray(value) && Array.isArray(value[0])) text = value.map((row) => fmtVector(row)).join("<br>");
    else if (Array.isArray(value)) text = fmtVector(value);
    else text = fmt(value);
    return `<tr><th>${name}</th><td class="mono">${text}</td></tr>`;
  }).join("");
}
const fmt = (v) => (typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(6).replace(/\.?0+$/, "") : String(v));
function fmtVector(values) {
  const shown = values.slice(0, SHOWN_ENTRIES).map(fmt).join(", ");
  return "[" + shown + (values.length > SHOWN_ENTRIES ? `, … (${values.length} values)` : "") + "]";
}

async function modelPage(page, address) {
  const m = await api("models/" + address);
  if (!stillOn("model", address)) return;
  // A re-render on a new block keeps what the user typed or picked on the chart.
  const kept = {};
  if (state.model && state.model.address === m.address) {
    for (const id of KEPT_INPUTS) if ($(id)) kept[id] = $(id).value;
  }
  state.model = m;
  const isOwner = state.node.accounts.some((a) => a.toLowerCase() === m.owner.toLowerCase());
  const gasRows = m.versions.flatMap((v) => v.changes.map((c) => `<tr><td class="num">${v.block}</td><td><span class="tag ${v.kind}">${v.kind}</span></td>` +
    `<td class="mono">${short(c.by)}</td><td class="num">${c.label ?? "–"}</td><td class="num">${c.gas ?? "–"}</td><td class="mono">${short(c.tx)}</td></tr>`)).join("");
  page.innerHTML = `
    <h1 id="model-name">${esc(m.name)} <span class="tag">${m.model}</span> <span class="tag">${m.incentive}</span></h1>
    <div class="card">trainer <code>${m.address}</code> · model <code id="model-address">${m.model_address}</code> · owner <code>${m.owner}</code><br>
      ${m.features} features · ${m.contributions} contributions · deployed at block ${m.deployed} · last update block <b id="last-update">${m.last_update}</b> · next deposit ${eth(m.required_deposit)}
      ${m.description ? "<br>" + esc(m.description) : ""}</div>
    ${m.archive ? "" : '<div class="warn" id="no-archive">This node keeps no archive: the model at earlier blocks, the accuracy across blocks and diffs are unavailable here. Run it on sumchain (or another archive node) for history.</div>'}
    <h2>Accuracy across blocks</h2>
    <form class="row" id="score-form"><label>test set <input type="text" id="test-set" placeholder="/path/to/test.jsonl.gz, .csv or aclImdb folder" size="48"></label>
      <button id="score">draw</button> <span id="score-status"></span></form>
    <div id="chart"></div>
    <div class="row" id="revert-row" ${isOwner ? "" : "hidden"}>revert to block <input type="text" id="revert-block" size="8" placeholder="click the chart">
      <button id="revert">revert (replaceModel)</button> <span id="revert-status"></span></div>
    <h2>Parameters at block <span id="param-block">${m.block}</span></h2>
    <form class="row" id="param-form"><label>block <input type="text" id="param-at" size="8" value="${m.block}"></label><button>read</button></form>
    <table id="parameters">${paramRows(m.parameters)}</table>
    <h2>Diff between two blocks</h2>
    <form class="row" id="diff-form"><label>from <input type="text" id="diff-from" size="8" value="${m.deployed}"></label>
      <label>to <input type="text" id="diff-to" size="8" value="latest"></label><button>diff</button></form>
    <div id="diff"></div>
    <h2>Versions and gas per update${m.version_count > m.versions.length ? ` (the newest ${m.versions.length} of ${m.version_count})` : ""}</h2>
    <table id="versions"><tr><th class="num">block</th><th>kind</th><th>by</th><th class="num">label</th><th class="num">gas</th><th>transaction</th></tr>${gasRows}</table>`;
  for (const [id, value] of Object.entries(kept)) if ($(id) && value) $(id).value = value;
  $("#score-form").onsubmit = (e) => { e.preventDefault(); drawAccuracy(address); };
  $("#param-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const at = await api(`models/${address}?block=${encodeURIComponent($("#param-at").value)}`);
      $("#parameters").innerHTML = paramRows(at.parameters);
      setText("#param-block", at.block);
      showError("");
    } catch (err) { showError(err.message); }
  };
  $("#diff-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const d = await api(`models/${address}/diff?from=${encodeURIComponent($("#diff-from").value)}&to=${encodeURIComponent($("#diff-to").value)}`);
      $("#diff").innerHTML = d.changes.length ? `<table><tr><th>parameter</th><th class="num">changed</th><th class="num">max |Δ|</th><th class="num">Σ |Δ|</th><th>largest changes</th></tr>` +
        d.changes.map((c) => `<tr><td>${c.parameter}</td><td class="num">${c.changed}/${c.size}</td><td class="num">${fmt(c.max_abs_delta)}</td><td class="num">${fmt(c.l1_delta)}</td>` +
          `<td class="mono">${c.top.map((t) => `${t.index.length ? "[" + t.index.join(",") + "] " : ""}${fmt(t.before)}→${fmt(t.after)}`).join("; ")}</td></tr>`).join("") + "</table>"
        : `<p>No parameter changed between block ${d.from} and block ${d.to}.</p>`;
      showError("");
    } catch (err) { showError(err.message); }
  };
  $("#revert").onclick = async () => {
    const block = $("#revert-block").value.trim();
    if (!block) { showError("pick a block on the chart (or type one) to revert to"); return; }
    $("#revert").disabled = true;
    setText("#revert-status", "deploying a copy of block " + block + "'s model…");
    try {
      const r = await api(`models/${address}/revert`, { block, from: m.owner });
      setText("#revert-status", "");
      state.selected = null;
      $("#revert-block").value = "";
      showNotice(`reverted: the trainer now uses ${r.new_model}, a copy of the model at block ${r.from_block} (block ${r.block}, ${r.gas_used} gas)`);
      await modelPage(page, address);
      if (state.accuracy) await drawAccuracy(address);
    } catch (err) { setText("#revert-status", ""); showError(err.message); }
    finally { const b = $("#revert"); if (b) b.disabled = false; }
  };
  if (state.accuracy && state.accuracy.address === address) { $("#test-set").value = state.accuracy.path; drawAccuracy(address); }
  state.onBlock = async () => { if (document.activeElement && document.activeElement.tagName === "INPUT") return; await modelPage(page, address); };
}

async function drawAccuracy(address) {
  const path = $("#test-set").value.trim();
  setText("#score-status", "scoring every version…");
  try {
    const a = await api(`models/${address}/accuracy?test_set=${encodeURIComponent(path)}`);
    if (!stillOn("model", address) || !$("#chart")) return;
    setText("#score-status", "");
    if (!a.archive) { showError(a.error); return; }
    state.accuracy = { address, path, versions: a.versions };
    const started = performance.now();
    plot(a.versions);
    state.chartDrawnMs = performance.now() - started;
    setText("#score-status", `${a.versions.length} versions on ${a.samples} samples`);
    showError("");
  } catch (e) { setText("#score-status", ""); showError(e.message); }
}

function plot(versions) {
  // uPlot draws a step line of accuracy over blocks; updates are dots and reverts
  // (replaceModel) vertical dashed lines; a click picks the nearest version's block.
  if (state.chart) state.chart.destroy();
  const x = versions.map((v) => v.block);
  const y = versions.map((v) => v.accuracy);
  const replaced = versions.filter((v) => v.kind === "replaced").map((v) => v.block);
  const box = $("#chart");
  box.innerHTML = "";
  box.dataset.points = String(versions.length);
  box.dataset.last = String(y[y.length - 1]);
  const marks = {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#d97706";
        ctx.setLineDash([5, 4]);
        ctx.lineWidth = 2;
        for (const block of replaced) {
          const px = u.valToPos(block, "x", true);
          ctx.beginPath(); ctx.moveTo(px, u.bbox.top); ctx.lineTo(px, u.bbox.top + u.bbox.height); ctx.stroke();
        }
        if (state.selected !== null) {
          ctx.strokeStyle = "#16a34a"; ctx.setLineDash([]);
          const px = u.valToPos(state.selected, "x", true);
          ctx.beginPath(); ctx.moveTo(px, u.bbox.top); ctx.lineTo(px, u.bbox.top + u.bbox.height); ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
  const opts = {
    width: Math.min(1060, box.clientWidth || 1000), height: 300,
    scales: { x: { time: false }, y: { range: [0, 1] } },
    axes: [{ label: "block", incrs: BLOCK_TICKS }, { label: "accuracy" }],
    series: [{ label: "block" }, { label: "accuracy", stroke: "#2563eb", width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: true, size: 6, fill: "#2563eb" } }],
    plugins: [marks],
    legend: { show: true },
  };
  state.chart = new uPlot(opts, [x, y], box);
  state.chart.over.addEventListener("click", () => {
    const i = state.chart.cursor.idx;
    if (i === null || i === undefined) return;
    state.selected = x[i];
    const input = $("#revert-block");
    if (input) input.value = x[i];
    state.chart.redraw();
  });
}

// --- contributions -------------------------------------------------------------------------

async function contributionsPage(page, address) {
  const accounts = state.node.accounts;
  const viewer = page.dataset.viewer || accounts[0] || "";
  const c = await api(`models/${address}/contributions` + (viewer ? `?account=${viewer}` : ""));
  if (!stillOn("contributions", address)) return;
  const options = accounts.map((a) => `<option ${a === c.viewer ? "selected" : ""}>${a}</option>`).join("");
  page.innerHTML = `<h1>Contributions</h1>
    <div class="row"><label>acting as <select id="viewer">${options}</select></label> <span>block time ${new Date(c.now * 1000).toISOString()}</span></div>
    <table id="contributions"><tr><th>block</th><th>contributor</th><th class="num">label</th><th class="num">deposit</th><th class="num">age</th><th>data</th><th>status</th><th></th></tr>` +
    c.contributions.map((r) => `<tr data-tx="${r.tx}" data-index="${r.index}"><td class="num">${r.block}</td><td class="mono" title="${r.contributor}">${short(r.contributor)}</td><td class="num">${r.label}</td>` +
      `<td class="num">${eth(r.deposit)}</td><td class="num">${age(r.age_s)}</td><td class="mono">${fmtVector(r.data)}</td>` +
      `<td class="status">${r.refunded ? '<span class="tag">refunded</span>' : ""}${r.taken ? '<span class="tag">reported</span>' : ""}${r.refundable ? '<span class="tag yes">refundable</span>' : ""}${r.reportable ? '<span class="tag yes">reportable</span>' : ""}${!r.claimed && !r.refundable && !r.reportable ? '<span class="tag no">waiting</span>' : ""}</td>` +
      `<td>${r.refundable ? '<button class="small refund">Refund</button>' : ""} ${r.reportable ? '<button class="small report">Report</button>' : ""}</td></tr>`).join("") + "</table>";
  $("#viewer").onchange = () => { page.dataset.viewer = $("#viewer").value; contributionsPage(page, address); };
  for (const button of page.querySelectorAll("button.refund, button.report")) {
    button.onclick = async () => {
      const row = button.closest("tr");
      const action = button.classList.contains("refund") ? "refund" : "report";
      const contributor = row.querySelector("td.mono").title;
      button.disabled = true;
      try {
        const r = await api(`models/${address}/${action}`, { tx: row.dataset.tx, index: Number(row.dataset.index), from: action === "refund" ? contributor : $("#viewer").value });
        showNotice(`${action} mined in block ${r.block}, ${r.gas_used} gas`);
        await contributionsPage(page, address);
      } catch (e) { showError(e.message); button.disabled = false; }
    };
  }
  state.onBlock = () => contributionsPage(page, address);
}
function age(s) {
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

// --- predict ---------------------------------------------------------------------------------

function inputFields(m) {
  return m.text
    ? `<label>text <textarea id="text" placeholder="type a review"></textarea></label><div class="row">or feature indices <input type="text" id="indices" placeholder="3 17 42"></div>`
    : `<div class="row">feature indices <input type="text" id="indices" placeholder="3 17 42"> <span>(no vocabulary known for encoder <code>${esc(m.encoder || "none")}</code>)</span></div>`;
}
function inputBody() {
  const text = $("#text") ? $("#text").value.trim() : "";
  return text ? { text } : { indices: $("#indices").value };
}

async function predictPage(page, address) {
  const m = await api("models/" + address);
  page.innerHTML = `<h1>Predict · ${esc(m.name)}</h1><p>A free <code>eth_call</code> of the trainer's <code>predict</code>, at the head or any block.</p>
    <form id="predict-form">${inputFields(m)}<div class="row"><label>block <input type="text" id="block" size="8" value="latest"></label><button>predict</button></div></form>
    <div class="card">prediction: <span class="big" id="prediction">–</span> <span id="prediction-at"></span></div>`;
  $("#predict-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      const r = await api(`models/${address}/predict`, { ...inputBody(), block: $("#block").value });
      setText("#prediction", r.label);
      setText("#prediction-at", `at block ${r.block} (features ${r.data.join(" ")})`);
      showError("");
    } catch (err) { showError(err.message); }
  };
}

// --- add data ------------------------------------------------------------------------------

async function addPage(page, address) {
  const m = await api("models/" + address);
  const accounts = state.node.accounts.map((a) => `<option value="${a}">${a} (node signs)</option>`).join("");
  const wallet = window.ethereum ? '<option value="wallet">browser wallet (window.ethereum)</option>' : "";
  page.innerHTML = `<h1>Add data · ${esc(m.name)}</h1>
    <form id="add-form">${inputFields(m)}
      <div class="row"><label>label <input type="text" id="label" size="4" value="1"></label>
        <label>sign with <select id="account">${accounts}${wallet}</select></label></div>
      <div class="row">required deposit: <b id="deposit">${eth(m.required_deposit)}</b> <span class="mono">(${m.required_deposit} wei, ${m.incentive})</span></div>
      <button id="send">send addData</button></form>
    <div class="card" id="receipt" hidden></div>`;
  $("#add-form").onsubmit = async (e) => {
    e.preventDefault();
    const button = $("#send");
    button.disabled = true;
    try {
      const body = { ...inputBody(), label: $("#label").value };
      let r;
      if ($("#account").value === "wallet") r = await sendWithWallet(address, "add", body);
      else r = await api(`models/${address}/add`, { ...body, from: $("#account").value });
      const box = $("#receipt");
      box.hidden = false;
      box.innerHTML = `mined in block <b id="receipt-block">${r.block}</b> · gas used <b id="receipt-gas">${r.gas_used}</b> · status ${r.status} · <code>${r.transaction}</code>`;
      showError("");
      const fresh = await api("models/" + address);
      setText("#deposit", eth(fresh.required_deposit));
    } catch (err) { showError(err.message); }
    finally { button.disabled = false; }
  };
}

async function sendWithWallet(address, action, body) {
  // EIP-1193: the wallet signs and sends; the dashboard only builds the call data.
  const tx = await api(`models/${address}/transaction/${action}`, body);
  const [from] = await window.ethereum.request({ method: "eth_requestAccounts" });
  const chainId = parseInt(await window.ethereum.request({ method: "eth_chainId" }), 16);
  if (chainId !== state.node.chain_id) throw new Error(`wrong chain: the wallet is on chain ${chainId}, the node is chain ${state.node.chain_id}`);
  const hash = await window.ethereum.request({ method: "eth_sendTransaction", params: [{ from, to: tx.to, data: tx.data, value: tx.value }] });
  for (let i = 0; i < 120; i++) {
    const receipt = await window.ethereum.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt) {
      if (receipt.status !== "0x1") throw new Error(`the transaction ${hash} reverted (block ${parseInt(receipt.blockNumber, 16)})`);
      return { block: parseInt(receipt.blockNumber, 16), gas_used: parseInt(receipt.gasUsed, 16), status: 1, transaction: hash };
    }
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error(`no receipt for ${hash} after a minute`);
}

// New blocks: a newHeads subscription on the node's WebSocket where it has one (sumchain,
// anvil and geth serve it beside HTTP), else polling the head through the dashboard.
let poller = null;
function poll(ms) {
  if (poller) clearInterval(poller);
  poller = setInterval(pollHead, ms);
}
function liveHeads() {
  poll(HEAD_POLL_MS);
  if (!state.node || !state.node.ws || !window.WebSocket) return;
  let ws;
  try { ws = new WebSocket(state.node.ws); } catch (e) { return; }
  ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id === 1 && message.result) { state.live = "websocket"; setText("#live", "live (newHeads)"); poll(SLOW_POLL_MS); }
    if (message.method === "eth_subscription") pollHead();
  };
  ws.onclose = () => { state.live = "polling"; setText("#live", "live (polling)"); poll(HEAD_POLL_MS); };
}

window.addEventListener("hashchange", route);
state.live = "polling";
route().then(liveHeads);
pollHead();
