// The web chat page: live messages over a WebSocket, posting, buttons, threads in a side pane,
// unread marks and mentions, history on scroll and the "/" command palette. Message HTML is
// rendered (and escaped) by the server; everything this script builds itself uses textContent.
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  if (!chat) return;
  const $ = (id) => document.getElementById(id);
  const channel = chat.dataset.channel;
  const csrf = chat.dataset.csrf;
  const me = chat.dataset.me;
  const list = $("messages");
  const input = $("text");
  const form = $("composer");
  const palette = $("palette");
  const liveState = $("live-state");
  const errorBox = $("chat-error");
  const pane = $("thread-pane");
  const paneList = $("thread-messages");
  const paneForm = $("thread-composer");
  const paneInput = $("thread-text");
  const alsoChannel = $("also-channel");
  const sidebar = $("sidebar");
  const commands = JSON.parse($("commands").textContent || "[]");
  let newest = parseInt(chat.dataset.newest || "0", 10);
  let oldest = parseInt(chat.dataset.oldest || "0", 10);
  let openThread = null;
  let selected = 0;
  let socket = null;
  let retry = 500;
  let badgeTimer = null;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html; // server-rendered, escaped HTML
    return t.content.firstElementChild;
  }

  function mentionsMe(el) {
    return Array.from(el.querySelectorAll(".mention")).some((m) => m.textContent === "@" + me);
  }

  function build(event, inPane) {
    const el = fragment(event.html);
    if (!el) return null;
    el.dataset.version = String(event.version || 1);
    if (mentionsMe(el)) el.classList.add("mentions-me");
    if (inPane) {
      el.id = "t" + event.id; // the parent is also in the channel view: ids stay unique
      el.querySelectorAll(".replies, .reply-link").forEach((b) => b.remove());
    }
    return el;
  }

  // Insert or replace a message in a list (the channel view or the thread pane).
  function upsert(box, event, atTop) {
    const el = build(event, box === paneList);
    if (!el) return;
    const old = box.querySelector(`:scope > [data-id="${event.id}"]`);
    if (old) {
      if (parseInt(old.dataset.version || "0", 10) <= (event.version || 1)) old.replaceWith(el);
      return;
    }
    if (event.type === "edit") return; // an edit of a message we never loaded
    const stick = nearBottom(box);
    if (atTop) {
      const anchor = $("load-older");
      box.insertBefore(el, anchor ? anchor.nextSibling : box.firstChild);
    } else {
      box.appendChild(el);
      if (stick || event.sender === me) box.scrollTop = box.scrollHeight;
    }
  }

  function setCount(parent, count) {
    if (count === undefined || count === null) return;
    const button = list.querySelector(`:scope > [data-id="${parent}"] .replies`);
    if (!button) return;
    button.dataset.count = String(count);
    button.textContent = count === 1 ? "1 reply" : `${count} replies`;
    button.hidden = count === 0;
  }

  function notify(title, body, url) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && !url) return;
    const n = new Notification(title, {body, tag: url || title});
    n.onclick = () => { window.focus(); if (url) location.href = url; };
  }

  function plain(el) {
    const body = el.querySelector(".body");
    return (body ? body.textContent : "").slice(0, 160);
  }

  function markUnread(event) {
    if (event.sender === me || event.type === "edit") return;
    const link = sidebar.querySelector(`a[data-channel="${CSS.escape(event.channel)}"]`);
    if (!link) return;
    link.classList.add("unread");
    const el = build(event, false);
    if (el && mentionsMe(el)) {
      link.classList.add("mentioned");
      notify(`${event.sender} mentioned you in ${link.textContent.trim()}`, plain(el),
             `/chat/${encodeURIComponent(event.channel)}?thread=${event.thread || event.id}#m${event.id}`);
    }
  }

  function onEvent(event) {
    if (event.type !== "message" && event.type !== "edit") return; // answers to socket posts
    if (event.sender === "opsroom") refreshBadgeSoon();
    if (event.channel !== channel) { markUnread(event); return; }
    newest = Math.max(newest, event.id);
    if (event.thread) {
      setCount(event.thread, event.parent_replies);
      if (openThread === event.thread) upsert(paneList, event, false);
    } else {
      upsert(list, event, false);
      if (openThread === event.id) upsert(paneList, event, false);
    }
    if (event.type === "message" && event.sender !== me && document.visibilityState !== "visible") {
      const el = build(event, false);
      if (el && mentionsMe(el)) notify(`${event.sender} mentioned you`, plain(el), "");
    }
  }

  async function catchUp() {
    if (!newest) return;
    const r = await fetch(`/chat/${encodeURIComponent(channel)}/history?after=${newest}`, {credentials: "same-origin"});
    if (!r.ok) return;
    const data = await r.json();
    data.messages.forEach(onEvent);
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${proto}//${location.host}/chat/ws?channel=${encodeURIComponent(channel)}`);
    socket.onopen = () => {
      liveState.textContent = "live";
      liveState.className = "live-state on";
      retry = 500;
      catchUp();
      refreshBadgeSoon();
    };
    socket.onmessage = (msg) => onEvent(JSON.parse(msg.data));
    socket.onclose = (ev) => {
      liveState.textContent = "reconnecting…";
      liveState.className = "live-state off";
      if (ev.code === 4401) { location.href = "/login"; return; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  // -- the Approvals badge: runs waiting for this person's vote --------------------------
  function refreshBadgeSoon() {
    clearTimeout(badgeTimer);
    badgeTimer = setTimeout(refreshBadge, 250);
  }
  async function refreshBadge() {
    const badge = $("approvals-count");
    if (!badge) return;
    const r = await fetch("/console/approvals/count", {credentials: "same-origin"});
    if (!r.ok) return;
    const count = (await r.json()).count;
    badge.textContent = String(count);
    badge.hidden = !count;
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

  async function send(box, text, extra) {
    try {
      await postJSON(`/chat/${encodeURIComponent(channel)}/messages`, Object.assign({text}, extra));
      showError("");
      return true;
    } catch (e) {
      box.value = text;
      showError(e.message);
      return false;
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!palette.hidden && !exact() && pick()) return;
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    hidePalette();
    await send(input, text, {});
  });

  paneForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = paneInput.value.trim();
    if (!text || !openThread) return;
    paneInput.value = "";
    const also = alsoChannel && alsoChannel.checked;
    if (await send(paneInput, text, also ? {thread: openThread, also_channel: true} : {thread: openThread}) && alsoChannel) {
      alsoChannel.checked = false;  // like Slack: one reply at a time
    }
  });

  // -- threads: a side pane with the parent and its replies -----------------------------
  async function showThread(id, focus) {
    const r = await fetch(`/chat/${encodeURIComponent(channel)}/thread/${id}`, {credentials: "same-origin"});
    if (!r.ok) { showError("That thread is not there any more."); return; }
    const data = await r.json();
    openThread = id;
    paneList.textContent = "";
    data.messages.forEach((m) => upsert(paneList, m, false));
    pane.hidden = false;
    chat.classList.add("with-thread");
    paneList.scrollTop = paneList.scrollHeight;
    const url = new URL(location.href);
    url.searchParams.set("thread", String(id));
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    if (focus) paneInput.focus();
  }
  function closeThread() {
    openThread = null;
    pane.hidden = true;
    chat.classList.remove("with-thread");
    const url = new URL(location.href);
    url.searchParams.delete("thread");
    history.replaceState(null, "", url.pathname + url.search);
  }
  $("close-thread").addEventListener("click", closeThread);

  async function onClick(ev) {
    const button = ev.target.closest("button[data-action]");
    if (button) {
      if (button.dataset.asks) { askReason(button); return; }
      await click(button, {});
      return;
    }
    const reply = ev.target.closest("button[data-reply]");
    if (reply) { showThread(parseInt(reply.dataset.reply, 10), true); return; }
    const replies = ev.target.closest("[data-open-thread]");
    if (replies) { ev.preventDefault(); showThread(parseInt(replies.dataset.openThread, 10), false); return; }
    if (ev.target.id === "load-older") loadOlder(ev.target);
  }
  list.addEventListener("click", onClick);
  paneList.addEventListener("click", onClick);

  async function click(button, extra) {
    button.disabled = true;
    try {
      await postJSON("/chat/actions", Object.assign(
        {message: parseInt(button.dataset.message, 10), action: button.dataset.action}, extra));
      showError("");
    } catch (e) {
      showError(e.message);
    } finally {
      setTimeout(() => { button.disabled = false; }, 1500);
    }
  }

  // A button that needs a reason (Deny): a small form under it; the reason is required.
  function askReason(button) {
    const box = button.closest(".actions");
    if (box.nextElementSibling && box.nextElementSibling.classList.contains("reason-form")) return;
    const f = document.createElement("form");
    f.className = "reason-form";
    const field = document.createElement("input");
    field.required = true;
    field.maxLength = 300;
    field.placeholder = button.dataset.asks;
    field.setAttribute("aria-label", button.dataset.asks);
    const ok = document.createElement("button");
    ok.type = "submit";
    ok.className = "btn btn-danger";
    ok.textContent = button.textContent;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "link";
    cancel.textContent = "cancel";
    cancel.addEventListener("click", () => f.remove());
    f.append(field, ok, cancel);
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const reason = field.value.trim();
      if (!reason) { field.focus(); return; }
      await click(button, {reason});
      f.remove();
    });
    box.after(f);
    field.focus();
  }

  async function loadOlder(button) {
    if (!oldest) return;
    const r = await fetch(`/chat/${encodeURIComponent(channel)}/history?before=${oldest}`, {credentials: "same-origin"});
    if (!r.ok) return;
    const data = await r.json();
    const height = list.scrollHeight;
    data.messages.slice().reverse().forEach((m) => upsert(list, m, true));
    if (data.messages.length) oldest = data.messages[0].id;
    list.scrollTop += list.scrollHeight - height;
    if (!data.more && button) button.remove();
  }
  list.addEventListener("scroll", () => {
    const button = $("load-older");
    if (button && list.scrollTop < 20) loadOlder(button);
  });

  // -- the "/" command palette: commands, then the values of the argument being typed ----
  function matches() {
    const value = input.value;
    if (!value.startsWith("/")) return [];
    const words = value.slice(1).split(" ");
    if (words.length === 1) {
      const word = words[0].toLowerCase();
      return commands.filter((c) => c.name.startsWith(word)).map((c) => ({command: c}));
    }
    const command = commands.find((c) => c.name === words[0].toLowerCase());
    if (!command) return [];
    const typed = words.slice(1);
    const arg = command.args[typed.length - 1];
    if (!arg || !arg.values.length) return [];
    const partial = typed[typed.length - 1].toLowerCase();
    return arg.values.filter((v) => v.toLowerCase().startsWith(partial)).slice(0, 20)
      .map((v) => ({command, arg, value: v}));
  }

  // True when what is typed is already a whole command or value: Enter then sends it.
  function exact() {
    const found = matches();
    const text = input.value.trim();
    return found.some((m) => m.value === undefined ? text === "/" + m.command.name
      : text.split(" ").pop() === m.value && !input.value.endsWith(" "));
  }

  function renderPalette() {
    const found = matches();
    palette.textContent = "";
    if (!found.length) { hidePalette(); return; }
    selected = Math.min(selected, found.length - 1);
    found.forEach((m, i) => {
      const row = document.createElement("div");
      row.className = "palette-item" + (i === selected ? " selected" : "");
      row.setAttribute("role", "option");
      if (m.value === undefined) {
        const c = m.command;
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
      } else {
        row.dataset.value = m.value;
        const value = document.createElement("code");
        value.textContent = m.value;
        const hint = document.createElement("span");
        hint.textContent = m.arg.name + (m.arg.help ? ` · ${m.arg.help}` : "");
        row.append(value, hint);
      }
      row.addEventListener("mousedown", (e) => { e.preventDefault(); selected = i; pick(); });
      palette.appendChild(row);
    });
    palette.hidden = false;
  }

  function hidePalette() { palette.hidden = true; palette.textContent = ""; }

  function pick() {
    const found = matches();
    if (!found.length) return false;
    const m = found[selected];
    if (m.value === undefined) {
      input.value = "/" + m.command.name + " ";
    } else {
      const words = input.value.split(" ");
      words[words.length - 1] = m.value;
      input.value = words.join(" ") + " ";
    }
    selected = 0;
    renderPalette();
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

  // -- phones: the channel list is a drawer -----------------------------------------------
  $("drawer-toggle").addEventListener("click", () => sidebar.classList.toggle("open"));
  $("drawer-close").addEventListener("click", () => sidebar.classList.remove("open"));
  chat.addEventListener("click", () => sidebar.classList.remove("open"), true); // a tap beside it closes it
  sidebar.addEventListener("click", (ev) => { if (ev.target.closest("a")) sidebar.classList.remove("open"); });

  // -- opt-in browser notifications (mentions, approval requests) -------------------------
  const notifyButton = $("notify-toggle");
  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", async () => {
      await Notification.requestPermission();
      notifyButton.hidden = Notification.permission !== "default";
    });
  }

  list.scrollTop = list.scrollHeight;
  const wanted = parseInt(new URLSearchParams(location.search).get("thread") || "0", 10);
  if (wanted) showThread(wanted, false);
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) { target.classList.add("highlight"); target.scrollIntoView({block: "center"}); }
  }
  connect();
})();
