/*
 * Frontdesk chat widget. One tag embeds it on any page:
 *
 *   <script src="https://support.example.com/widget.js" defer></script>
 *
 * Options as data- attributes on that tag:
 *   data-mount="#selector"  render inside that element instead of a floating button
 *   data-open               start with the chat open
 *   data-language="es"      the conversation's first language
 *   data-title="..."        the heading of the panel
 *
 * The widget lives in a shadow root, so the host page's styles do not reach it and its styles
 * do not leak out. The conversation id is kept in localStorage: a reload or a dropped connection
 * resumes the same conversation where it was.
 */
(() => {
  "use strict";

  const CONFIGURED_BASE = "__FRONTDESK_BASE__";
  const script = document.currentScript;
  if (!script || window.__frontdeskWidget) return;
  window.__frontdeskWidget = true;

  const BASE = (CONFIGURED_BASE && !CONFIGURED_BASE.startsWith("__")) ? CONFIGURED_BASE : new URL(script.src, location.href).origin;
  const WS_BASE = BASE.replace(/^http/, "ws");
  const STORE_KEY = "frontdesk.chat.session@" + BASE;
  const MAX_BYTES = 4096;
  const opts = script.dataset;
  const encoder = new TextEncoder();

  const ERRORS = {
    rate_limited: "You're sending messages a little fast. Please wait a moment and send it again.",
    too_large: "That message is too long. Please shorten it (at most 4,096 characters).",
    bad_frame: "That message couldn't be sent. Please try again.",
    unavailable: "Something went wrong on our side. Please send that again.",
    too_many_sockets: "This conversation is open in too many tabs. Close one and reload.",
  };

  // ------------------------------------------------------------------ DOM

  const host = document.createElement("div");
  host.className = "frontdesk-chat-host";
  const mount = opts.mount ? document.querySelector(opts.mount) : null;
  (mount || document.body).appendChild(host);
  const root = host.attachShadow({ mode: "open" });

  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = BASE + "/chat/static/widget.css";
  root.appendChild(css);

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) node.appendChild(child);
    return node;
  }

  function icon(path, label) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    if (label) svg.dataset.label = label;
    return svg;
  }

  const ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  const ICON_SEND = "M3 20.5 21 12 3 3.5l.01 6.6L15 12 3.01 13.9z";
  const ICON_CLOSE = "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z";

  const title = opts.title || "Frontdesk Support";
  const wrapper = el("div", { class: "fd" + (mount ? " fd-inline" : " fd-floating") });
  const launcher = el("button", {
    class: "fd-launcher", type: "button", "aria-label": "Chat with support", "aria-expanded": "false",
  }, [icon(ICON_CHAT)]);
  const statusText = el("p", { class: "fd-status", text: "Connecting…" });
  const restart = el("button", { class: "fd-restart", type: "button", text: "New chat", title: "Start a new conversation" });
  const closeButton = el("button", { class: "fd-close", type: "button", "aria-label": "Close chat" }, [icon(ICON_CLOSE)]);
  const banner = el("div", { class: "fd-banner", role: "status", hidden: true });
  const history = el("div", { class: "fd-history" });
  const live = el("div", { class: "fd-live" });
  const log = el("div", {
    class: "fd-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation",
    tabindex: "0",
  }, [history, live]);
  const typing = el("div", { class: "fd-typing", hidden: true, "aria-hidden": "true" },
    [el("span"), el("span"), el("span")]);
  const choices = el("div", { class: "fd-choices", role: "group", "aria-label": "Quick replies", hidden: true });
  const input = el("textarea", {
    class: "fd-input", id: "fd-input", rows: "1", maxlength: String(MAX_BYTES), placeholder: "Type your message…",
    "aria-label": "Message", autocomplete: "off",
  });
  const send = el("button", { class: "fd-send", type: "submit", "aria-label": "Send" }, [icon(ICON_SEND)]);
  const notice = el("p", { class: "fd-notice", role: "alert", hidden: true });
  const composer = el("form", { class: "fd-composer" }, [input, send]);
  const panel = el("section", { class: "fd-panel", role: "region", "aria-label": title }, [
    el("header", { class: "fd-header" }, [
      el("div", { class: "fd-brand" }, [
        el("span", { class: "fd-avatar", "aria-hidden": "true", text: "F" }),
        el("div", {}, [el("h2", { class: "fd-title", text: title }), statusText]),
      ]),
      el("div", { class: "fd-actions" }, mount ? [restart] : [restart, closeButton]),
    ]),
    banner, log, typing, choices, notice, composer,
  ]);
  wrapper.append(panel);
  if (!mount) wrapper.append(launcher);
  root.appendChild(wrapper);

  // ------------------------------------------------------------------ state

  let socket = null;
  let sessionId = localStorage.getItem(STORE_KEY);
  let attempts = 0;
  let reconnectTimer = null;
  let connectedOnce = false;
  let resuming = false;      // the next bot turn repeats what was already shown
  let agentName = null;
  let waitingTurns = 0;      // customer frames sent whose turn has not ended yet
  const pending = [];        // what this tab sent and is waiting to hear back about, oldest first
  let open = Boolean(mount) || "open" in opts;

  function setOpen(value) {
    open = value;
    wrapper.classList.toggle("fd-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      if (!socket) start();
      setTimeout(() => input.focus(), 0);
    }
  }

  // ------------------------------------------------------------------ rendering

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function bubble(role, text, { into = live, who = null, note = null } = {}) {
    const label = role === "customer" ? "You" : role === "agent" ? (who || agentName || "Support team") : "Frontdesk";
    const node = el("div", { class: `fd-msg fd-${role}` });
    node.dataset.who = label;
    const previous = into.lastElementChild;
    // Consecutive lines of one speaker form a group: the name is shown once, read out every time.
    const grouped = previous && previous.dataset.who === label && !previous.classList.contains("fd-failed");
    if (grouped) node.classList.add("fd-cont");
    node.appendChild(el("span", { class: role === "customer" || grouped ? "fd-sr" : "fd-who", text: label }));
    node.appendChild(el("p", { class: "fd-text", text }));
    if (note) node.appendChild(el("span", { class: "fd-note", text: note }));
    into.appendChild(node);
    scrollDown();
    return node;
  }

  function systemLine(text, into = live) {
    const node = el("div", { class: "fd-msg fd-system" }, [el("p", { class: "fd-text", text })]);
    into.appendChild(node);
    scrollDown();
    return node;
  }

  function lastBotTexts(n) {
    const texts = [...root.querySelectorAll(".fd-bot .fd-text, .fd-agent .fd-text")].map((p) => p.textContent);
    return texts.slice(-n);
  }

  function showChoices(list) {
    choices.replaceChildren();
    for (const choice of list || []) {
      choices.appendChild(el("button", {
        class: "fd-choice", type: "button", text: choice.label,
        onclick: () => sendChoice(choice),
      }));
    }
    choices.hidden = !choices.children.length;
    scrollDown();
  }

  function setTyping(on) {
    typing.hidden = !on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    if (on) scrollDown();
  }

  function setNotice(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  function setStatus(text, state) {
    statusText.textContent = text;
    wrapper.dataset.connection = state;
  }

  function setBanner(state) {
    const mode = state && state.mode;
    if (mode === "agent" && state.agent) {
      agentName = state.agent;
      banner.textContent = `You're now chatting with ${state.agent} from our team.`;
      banner.className = "fd-banner fd-banner-agent";
      banner.hidden = false;
      wrapper.classList.add("fd-with-agent");
    } else if (mode === "agent") {
      banner.textContent = "Waiting for a member of our team. They'll see everything so far.";
      banner.className = "fd-banner fd-banner-waiting";
      banner.hidden = false;
      wrapper.classList.add("fd-with-agent");
    } else {
      banner.hidden = true;
      wrapper.classList.remove("fd-with-agent");
    }
  }

  function renderHistory(transcript) {
    history.replaceChildren();
    let previous = null;
    for (const entry of transcript) {
      const key = entry.role + "\u0000" + entry.text;
      if (key === previous && entry.role !== "customer") continue; // a question repeated on resume
      previous = key;
      if (entry.role === "customer" || entry.role === "bot" || entry.role === "agent") {
        bubble(entry.role, entry.text, { into: history, who: entry.agent });
      }
    }
    if (history.lastChild) history.appendChild(el("div", { class: "fd-divider", "aria-hidden": "true" }));
    scrollDown();
  }

  // ------------------------------------------------------------------ the socket

  function start() {
    if (sessionId && !connectedOnce) {
      // A reload: show the conversation so far, then resume it over the socket.
      fetch(`${BASE}/chat/sessions/${encodeURIComponent(sessionId)}`, { credentials: "omit" })
        .then((r) => (r.ok ? r.json() : null))
        .then((body) => { if (body && body.session_id === sessionId) renderHistory(body.transcript); })
        .catch(() => {})
        .finally(connect);
    } else {
      connect();
    }
  }

  function connect() {
    clearTimeout(reconnectTimer);
    const params = new URLSearchParams();
    if (sessionId) params.set("session_id", sessionId);
    const language = opts.language || (navigator.language || "").slice(0, 2);
    if (language && !sessionId) params.set("language", language);
    setStatus(connectedOnce ? "Reconnecting…" : "Connecting…", "connecting");
    let ws;
    try {
      ws = new WebSocket(`${WS_BASE}/chat/ws?${params}`);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      handle(frame);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      setTyping(false);
      waitingTurns = 0;
      pending.length = 0;
      if (event.code === 1003) { setStatus("Disconnected", "closed"); return; }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    attempts += 1;
    const delay = Math.min(15000, 400 * 2 ** Math.min(attempts, 6)) * (0.6 + Math.random() * 0.4);
    setStatus(`Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`, "reconnecting");
    reconnectTimer = setTimeout(connect, delay);
  }

  function handle(frame) {
    switch (frame.type) {
      case "session": {
        const fresh = frame.session_id !== sessionId;
        if (fresh && sessionId) {
          history.replaceChildren();
          live.replaceChildren();
          systemLine("Your earlier conversation has ended, so this is a new one.");
        }
        sessionId = frame.session_id;
        localStorage.setItem(STORE_KEY, sessionId);
        resuming = Boolean(frame.resumed);
        attempts = 0;
        connectedOnce = true;
        setStatus("Online · we usually reply in seconds", "open");
        setNotice("");
        break;
      }
      case "message": {
        if (resuming && lastBotTexts(3).includes(frame.text)) {
          // The question we were at, repeated after a reconnect: show its quick replies only.
          showChoices(frame.choices);
          break;
        }
        bubble(frame.role, frame.text);
        showChoices(frame.choices);
        break;
      }
      case "state":
        setBanner(frame.state);
        break;
      case "handoff":
        setBanner({ mode: "agent", agent: null });
        break;
      case "turn_end":
        resuming = false;
        pending.shift();
        waitingTurns = Math.max(0, waitingTurns - 1);
        setTyping(waitingTurns > 0);
        break;
      case "error": {
        if (frame.code === "unknown_session") break; // a fresh session frame follows
        const failed = pending[0];
        if (failed && failed.node) {
          failed.node.classList.add("fd-failed");
          failed.node.appendChild(el("span", { class: "fd-note", text: "Not sent" }));
          if (failed.text && !input.value) input.value = failed.text;
        }
        setNotice(ERRORS[frame.code] || frame.message || "That didn't go through.");
        break;
      }
      default:
        break;
    }
  }

  function transmit(frame, text, label) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      setNotice("We're reconnecting. Your message is still in the box; send it again in a moment.");
      return false;
    }
    socket.send(JSON.stringify(frame));
    const node = bubble("customer", label);
    pending.push({ node, text });
    waitingTurns += 1;
    setTyping(true);
    setNotice("");
    showChoices([]);
    return true;
  }

  function sendText() {
    const text = input.value.trim();
    if (!text) return;
    if (encoder.encode(text).length > MAX_BYTES) {
      setNotice(ERRORS.too_large);
      return;
    }
    if (transmit({ type: "message", text }, text, text)) {
      input.value = "";
      autosize();
    }
  }

  function sendChoice(choice) {
    transmit({ type: "choice", value: choice.value }, null, choice.label);
    input.focus();
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 140) + "px";
  }

  // ------------------------------------------------------------------ wiring

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendText();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  input.addEventListener("input", autosize);
  launcher.addEventListener("click", () => setOpen(!open));
  closeButton.addEventListener("click", () => { setOpen(false); launcher.focus(); });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !mount) { setOpen(false); launcher.focus(); }
  });
  restart.addEventListener("click", () => {
    localStorage.removeItem(STORE_KEY);
    sessionId = null;
    agentName = null;
    pending.length = 0;
    waitingTurns = 0;
    history.replaceChildren();
    live.replaceChildren();
    showChoices([]);
    setBanner(null);
    setNotice("");
    if (socket) { const old = socket; socket = null; old.close(1000); }
    connect();
    input.focus();
  });
  window.addEventListener("online", () => { if (!socket && open) connect(); });

  setOpen(open);
  if (!open) wrapper.classList.remove("fd-open");
})();
