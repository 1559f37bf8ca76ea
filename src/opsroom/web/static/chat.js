// The web chat page: live messages over a WebSocket, posting, buttons, threads, history on
// scroll and the "/" command palette. Message HTML is rendered (and escaped) by the server;
// everything this script builds itself uses textContent.
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  if (!chat) return;
  const channel = chat.dataset.channel;
  const csrf = chat.dataset.csrf;
  const list = document.getElementById("messages");
  const input = document.getElementById("text");
  const form = document.getElementById("composer");
  const palette = document.getElementById("palette");
  const liveState = document.getElementById("live-state");
  const errorBox = document.getElementById("chat-error");
  const replying = document.getElementById("replying");
  const replyingTo = document.getElementById("replying-to");
  const commands = JSON.parse(document.getElementById("commands").textContent || "[]");
  let newest = parseInt(chat.dataset.newest || "0", 10);
  let oldest = parseInt(chat.dataset.oldest || "0", 10);
  let thread = null;
  let selected = 0;
  let socket = null;
  let retry = 500;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html; // server-rendered, escaped HTML
    return t.content.firstElementChild;
  }

  function place(event, atTop) {
    const el = fragment(event.html);
    if (!el) return;
    el.dataset.version = String(event.version || 1);
    const old = document.getElementById("m" + event.id);
    if (old) {
      if (parseInt(old.dataset.version || "0", 10) <= (event.version || 1)) old.replaceWith(el);
      return;
    }
    if (event.type === "edit") return; // an edit of a message we never loaded
    const stick = nearBottom();
    if (atTop) {
      const anchor = document.getElementById("load-older");
      list.insertBefore(el, anchor ? anchor.nextSibling : list.firstChild);
    } else {
      list.appendChild(el);
      if (stick) list.scrollTop = list.scrollHeight;
    }
    newest = Math.max(newest, event.id);
  }

  async function catchUp() {
    if (!newest) return;
    const r = await fetch(`/chat/${encodeURIComponent(channel)}/history?after=${newest}`, {credentials: "same-origin"});
    if (!r.ok) return;
    const data = await r.json();
    data.messages.forEach((m) => place(m, false));
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${proto}//${location.host}/chat/ws?channel=${encodeURIComponent(channel)}`);
    socket.onopen = () => {
      liveState.textContent = "live";
      liveState.className = "live-state on";
      retry = 500;
      catchUp();
    };
    socket.onmessage = (msg) => place(JSON.parse(msg.data), false);
    socket.onclose = (ev) => {
      liveState.textContent = "reconnecting…";
      liveState.className = "live-state off";
      if (ev.code === 4401) { location.href = "/login"; return; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  async function postJSON(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body),
    });
    if (!r.ok) {
      let text = `error ${r.status}`;
      try { text = (await r.json()).error || text; } catch (e) { /* not JSON */ }
      throw new Error(text);
    }
    return r.json();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!palette.hidden && pick()) return;
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    hidePalette();
    try {
      await postJSON(`/chat/${encodeURIComponent(channel)}/messages`, thread ? {text, thread} : {text});
      showError("");
      setThread(null);
    } catch (e) {
      input.value = text;
      showError(e.message);
    }
  });

  list.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (button) {
      button.disabled = true;
      try {
        await postJSON("/chat/actions", {message: parseInt(button.dataset.message, 10), action: button.dataset.action});
        showError("");
      } catch (e) {
        showError(e.message);
      } finally {
        setTimeout(() => { button.disabled = false; }, 1500);
      }
      return;
    }
    const reply = ev.target.closest("button[data-reply]");
    if (reply) { setThread(parseInt(reply.dataset.reply, 10)); input.focus(); return; }
    if (ev.target.id === "load-older") loadOlder(ev.target);
  });

  function setThread(id) {
    thread = id;
    replying.hidden = !id;
    replyingTo.textContent = id ? "#" + id : "";
  }
  document.getElementById("cancel-reply").addEventListener("click", () => setThread(null));

  async function loadOlder(button) {
    if (!oldest) return;
    const r = await fetch(`/chat/${encodeURIComponent(channel)}/history?before=${oldest}`, {credentials: "same-origin"});
    if (!r.ok) return;
    const data = await r.json();
    const height = list.scrollHeight;
    data.messages.slice().reverse().forEach((m) => place(m, true));
    if (data.messages.length) oldest = data.messages[0].id;
    list.scrollTop += list.scrollHeight - height;
    if (!data.more && button) button.remove();
  }
  list.addEventListener("scroll", () => {
    const button = document.getElementById("load-older");
    if (button && list.scrollTop < 20) loadOlder(button);
  });

  // -- the "/" command palette ---------------------------------------------------------
  function matches() {
    const value = input.value;
    if (!value.startsWith("/") || value.includes(" ")) return [];
    const word = value.slice(1).toLowerCase();
    return commands.filter((c) => c.name.startsWith(word));
  }

  function renderPalette() {
    const found = matches();
    palette.textContent = "";
    if (!found.length) { hidePalette(); return; }
    selected = Math.min(selected, found.length - 1);
    found.forEach((c, i) => {
      const row = document.createElement("div");
      row.className = "palette-item" + (i === selected ? " selected" : "");
      row.setAttribute("role", "option");
      row.dataset.name = c.name;
      const usage = document.createElement("code");
      usage.textContent = "/" + c.usage;
      const summary = document.createElement("span");
      summary.textContent = c.summary;
      row.append(usage, summary);
      c.args.forEach((a) => {
        if (!a.values.length && !a.help) return;
        const hint = document.createElement("small");
        hint.textContent = `${a.name}: ${a.values.length ? a.values.slice(0, 8).join(" | ") : a.help}`;
        row.appendChild(hint);
      });
      row.addEventListener("mousedown", (e) => { e.preventDefault(); selected = i; pick(); });
      palette.appendChild(row);
    });
    palette.hidden = false;
  }

  function hidePalette() { palette.hidden = true; palette.textContent = ""; }

  function pick() {
    const found = matches();
    if (!found.length) return false;
    input.value = "/" + found[selected].name + " ";
    hidePalette();
    input.focus();
    return true;
  }

  input.addEventListener("input", () => { selected = 0; renderPalette(); });
  input.addEventListener("keydown", (ev) => {
    if (palette.hidden) return;
    const count = matches().length;
    if (ev.key === "ArrowDown") { selected = (selected + 1) % count; renderPalette(); ev.preventDefault(); }
    else if (ev.key === "ArrowUp") { selected = (selected - 1 + count) % count; renderPalette(); ev.preventDefault(); }
    else if (ev.key === "Tab") { pick(); ev.preventDefault(); }
    else if (ev.key === "Escape") { hidePalette(); ev.preventDefault(); }
  });

  list.scrollTop = list.scrollHeight;
  connect();
})();
