// The chat page: the browser's own WebSocket, no bundler. It joins a room,
// shows who is there, sends messages and times each one's round trip (the
// server publishes it back to the room, sender included), probes the
// latency once a second, charts both, and reconnects when the server goes away.

const $ = (id) => document.getElementById(id);
const HISTORY_SECONDS = 60;
const KEPT_MESSAGES = 200;
const SHOWN_CHARACTERS = 400;

const state = {
  ws: null,
  connected: false,
  extensions: "",
  wanted: null, // { name, room } once the user pressed Join; sent again after a reconnect
  you: null,
  room: null,
  members: [],
  messages: [], // { name, text, mine, rtt } (full text, for the tests and the curious)
  reconnects: 0,
};

// ---- connection ----

let backoff = 250;
let sequence = 0;
const pending = new Map(); // message id -> send time
let probeTimer = null;

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/chat`;
}

function connect() {
  setStatus("connecting", "connecting…");
  const ws = new WebSocket(socketUrl());
  state.ws = ws;
  ws.onopen = () => {
    backoff = 250;
    state.connected = true;
    state.extensions = ws.extensions;
    $("extensions").textContent = ws.extensions === "" ? "none (not offered)" : ws.extensions;
    setStatus("connected", "connected");
    if (state.wanted !== null) send({ type: "join", ...state.wanted });
    probeTimer = setInterval(probe, 1000);
  };
  // The arrival time is taken first, so round trips do not include the page's own work.
  ws.onmessage = (event) => receive(JSON.parse(event.data), performance.now());
  ws.onclose = () => {
    clearInterval(probeTimer);
    state.connected = false;
    state.you = null;
    pending.clear();
    enableComposer(false);
    const wait = backoff;
    backoff = Math.min(backoff * 2, 4000);
    setStatus("connecting", `disconnected, reconnecting in ${(wait / 1000).toFixed(1)} s…`);
    setTimeout(() => {
      state.reconnects++;
      connect();
    }, wait);
  };
}

function send(object) {
  if (state.ws === null || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(object));
  return true;
}

function say(text) {
  const id = `m${++sequence}`;
  if (!send({ type: "say", text, id })) return false;
  pending.set(id, performance.now());
  return true;
}

function probe() {
  const id = ++sequence;
  if (send({ type: "probe", id })) pending.set(`p${id}`, performance.now());
}

function receive(message, arrived) {
  switch (message.type) {
    case "joined":
      state.you = message.you;
      if (state.room !== message.room) $("messages").replaceChildren();
      state.room = message.room;
      $("room-name").textContent = message.room;
      notice(`You joined ${message.room} as ${message.name}.`);
      enableComposer(true);
      break;
    case "members":
      if (message.room !== state.room) break;
      state.members = message.members;
      $("members").replaceChildren(
        ...message.members.map((member) => {
          const item = document.createElement("li");
          item.textContent = member.name;
          if (member.id === state.you) item.className = "me";
          return item;
        }),
      );
      break;
    case "message": {
      const sent = message.from === state.you ? pending.get(message.id) : undefined;
      let rtt = null;
      if (sent !== undefined) {
        pending.delete(message.id);
        rtt = arrived - sent;
        chart.latency(rtt);
      }
      chart.message();
      show({ name: message.name, text: message.text, mine: message.from === state.you, rtt, at: message.at });
      break;
    }
    case "probe": {
      const sent = pending.get(`p${message.id}`);
      if (sent !== undefined) {
        pending.delete(`p${message.id}`);
        chart.latency(arrived - sent);
      }
      break;
    }
    case "error":
      notice(`Server: ${message.message}`);
      break;
  }
}

// ---- page ----

function setStatus(kind, text) {
  const status = $("status");
  status.className = `status ${kind}`;
  status.textContent = text;
}

function enableComposer(on) {
  for (const id of ["text", "send", "burst"]) $(id).disabled = !on;
}

function notice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  append(item);
}

function show(record) {
  state.messages.push(record);
  if (state.messages.length > KEPT_MESSAGES) state.messages.shift();
  const item = document.createElement("li");
  if (record.mine) item.className = "mine";
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = new Date(record.at).toLocaleTimeString();
  if (record.rtt !== null) {
    const rtt = document.createElement("span");
    rtt.className = "rtt";
    rtt.textContent = ` · ${record.rtt.toFixed(1)} ms round trip`;
    meta.append(rtt);
  }
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = record.name;
  const text = record.text.length > SHOWN_CHARACTERS
    ? `${record.text.slice(0, SHOWN_CHARACTERS)}… (${new Blob([record.text]).size.toLocaleString()} bytes)`
    : record.text;
  item.append(meta, who, document.createTextNode(text));
  append(item);
}

let scrollPending = false;

function append(item) {
  const list = $("messages");
  list.append(item);
  while (list.children.length > KEPT_MESSAGES) list.firstElementChild.remove();
  // One layout per frame, however many messages arrived in it.
  if (!scrollPending) {
    scrollPending = true;
    requestAnimationFrame(() => {
      scrollPending = false;
      list.scrollTop = list.scrollHeight;
    });
  }
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.wanted = { name: $("name").value.trim(), room: $("room").value.trim() };
  send({ type: "join", ...state.wanted });
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text");
  if (input.value !== "" && say(input.value)) input.value = "";
});

$("burst").addEventListener("click", () => {
  for (let i = 1; i <= 100; i++) say(`burst ${i}/100`);
});

// ---- chart: round trip (line) and messages per second (bars), last minute ----

const chart = (() => {
  const seconds = []; // { latencies: number[], messages: number }
  let current = { latencies: [], messages: 0 };
  const canvas = $("chart");
  const context = canvas.getContext("2d");

  function median(values) {
    if (values.length === 0) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = Math.round(width * 0.72);
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.font = "11px system-ui, sans-serif";
    const half = height / 2;
    const step = width / HISTORY_SECONDS;
    const x = (i) => width - (seconds.length - i) * step;

    // Round trip: median of each second.
    const latencies = seconds.map((second) => median(second.latencies));
    const top = Math.max(1, ...latencies.filter((v) => v !== null)) * 1.25;
    context.strokeStyle = "#2563eb";
    context.lineWidth = 2;
    context.beginPath();
    let drawing = false;
    latencies.forEach((value, i) => {
      if (value === null) return void (drawing = false);
      const y = half - 6 - (value / top) * (half - 22);
      if (drawing) context.lineTo(x(i) + step / 2, y);
      else context.moveTo(x(i) + step / 2, y);
      drawing = true;
    });
    context.stroke();
    context.fillStyle = "#6b7385";
    context.fillText(`round trip, ms (top ${top.toFixed(1)})`, 6, 13);

    // Messages per second.
    const counts = seconds.map((second) => second.messages);
    const most = Math.max(1, ...counts) * 1.25;
    context.fillStyle = "#93c5fd";
    counts.forEach((value, i) => {
      const barHeight = (value / most) * (half - 22);
      context.fillRect(x(i) + 1, height - 4 - barHeight, step - 2, barHeight);
    });
    context.fillStyle = "#6b7385";
    context.fillText(`messages/s (top ${Math.round(most)})`, 6, half + 13);
    context.strokeStyle = "#dfe3e8";
    context.lineWidth = 1;
    context.beginPath();
    context.moveTo(0, half);
    context.lineTo(width, half);
    context.stroke();

    const last = seconds[seconds.length - 1];
    const lastLatency = last === undefined ? null : median(last.latencies);
    $("rtt").textContent = lastLatency === null ? "–" : `${lastLatency.toFixed(2)} ms`;
    $("rate").textContent = last === undefined ? "–" : String(last.messages);
  }

  setInterval(() => {
    seconds.push(current);
    current = { latencies: [], messages: 0 };
    if (seconds.length > HISTORY_SECONDS) seconds.shift();
    draw();
  }, 1000);
  draw();

  return {
    latency(ms) {
      current.latencies.push(ms);
    },
    message() {
      current.messages++;
    },
  };
})();

// For the tests and for poking around from the console.
window.chat = { state, say };

connect();
