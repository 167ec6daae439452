/*
 * Frontdesk agent console. Signs in over /agent/ws with the agent token (sent in the first frame,
 * kept for this tab only), then shows the hand-off queue and the approval queue as the server
 * pushes them. Everything from the server is rendered as text, never as markup.
 */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const WS_URL = location.origin.replace(/^http/, "ws") + "/agent/ws";
  const TOKEN_KEY = "frontdesk.agent.token";
  const NAME_KEY = "frontdesk.agent.name";

  let socket = null;
  let me = null;
  let signedIn = false;
  let attempts = 0;
  let retryTimer = null;
  let queue = [];
  let approvals = [];
  let selected = null;          // {kind: "conversation"|"approval", id}
  let current = null;           // the conversation shown
  let tab = "queue";
  const unread = new Set();

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return new Date(iso).toLocaleDateString();
  }

  function clock(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function words(value) {
    return String(value || "").replace(/_/g, " ");
  }

  function customerName(summary) {
    const c = (summary && summary.customer) || {};
    if (c.first_name && c.user_id) return `${c.first_name} (${c.user_id})`;
    return c.user_id || c.first_name || "Unverified customer";
  }

  function formatValue(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (Array.isArray(value)) return value.map(formatValue).join(", ");
    if (typeof value === "object") {
      return Object.entries(value).map(([k, v]) => `${words(k)}: ${formatValue(v)}`).join(", ");
    }
    return String(value);
  }

  let toastTimer = null;
  function toast(text, kind = "info") {
    const node = $("toast");
    node.textContent = text;
    node.className = `toast toast-${kind}`;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
  }

  function send(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      toast("Not connected. Reconnecting…", "error");
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  // ------------------------------------------------------------------ sign-in

  function showSignIn(error) {
    signedIn = false;
    $("sign-in-view").hidden = false;
    $("console-view").hidden = true;
    $("sign-out").hidden = true;
    $("who").hidden = true;
    $("conn").hidden = true;
    const box = $("sign-in-error");
    box.textContent = error || "";
    box.hidden = !error;
    $("agent-name").value = localStorage.getItem(NAME_KEY) || "";
    (error ? $("agent-token") : $("agent-name")).focus();
  }

  function connect() {
    clearTimeout(retryTimer);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { showSignIn(); return; }
    const ws = new WebSocket(WS_URL);
    socket = ws;
    setConn("Connecting…", "connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token, name: localStorage.getItem(NAME_KEY) || "" }));
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      handle(frame);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (!sessionStorage.getItem(TOKEN_KEY)) return;
      attempts += 1;
      const delay = Math.min(15000, 500 * 2 ** Math.min(attempts, 5));
      setConn(`Offline · retrying in ${Math.ceil(delay / 1000)} s`, "offline");
      retryTimer = setTimeout(connect, delay);
    };
  }

  function setConn(text, state) {
    const node = $("conn");
    node.textContent = text;
    node.dataset.state = state;
    node.hidden = !signedIn;
  }

  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("agent-name").value.trim();
    const token = $("agent-token").value.trim();
    if (!name || !token) return;
    localStorage.setItem(NAME_KEY, name);
    sessionStorage.setItem(TOKEN_KEY, token);
    $("agent-token").value = "";
    connect();
  });

  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    if (socket) { const old = socket; socket = null; old.close(1000); }
    queue = []; approvals = []; current = null; selected = null;
    renderQueue(); renderApprovals(); showPlaceholder();
    showSignIn();
  });

  // ------------------------------------------------------------------ frames

  function handle(frame) {
    switch (frame.type) {
      case "ready":
        me = frame.agent;
        signedIn = true;
        attempts = 0;
        $("sign-in-view").hidden = true;
        $("console-view").hidden = false;
        $("sign-out").hidden = false;
        $("who").hidden = false;
        $("who").textContent = `Signed in as ${me}`;
        setConn("Live", "live");
        if (selected && selected.kind === "conversation") send({ type: "open", session_id: selected.id });
        break;
      case "queue":
        queue = frame.items;
        renderQueue();
        break;
      case "approvals":
        approvals = frame.items;
        renderApprovals();
        break;
      case "conversation":
        if (selected && selected.kind === "conversation" && selected.id === frame.session_id) {
          current = frame;
          renderConversation();
        }
        break;
      case "line":
        if (current && current.session_id === frame.session_id) {
          current.transcript.push({ role: frame.role, text: frame.text, at: frame.at, agent: frame.role === "agent" ? current.agent : null });
          appendLine(current.transcript[current.transcript.length - 1]);
        } else if (frame.role === "customer") {
          unread.add(frame.session_id);
          renderQueue();
        }
        break;
      case "status":
        if (current && current.session_id === frame.session_id) {
          Object.assign(current, { mode: frame.mode, agent: frame.agent, outcome: frame.outcome });
          renderControls();
        }
        break;
      case "done":
        onDone(frame);
        break;
      case "error":
        if (frame.code === "unauthorized") {
          sessionStorage.removeItem(TOKEN_KEY);
          showSignIn("That token was not accepted. Check it and try again.");
        } else {
          toast(frame.message || "That did not go through.", "error");
        }
        break;
      default:
        break;
    }
  }

  function onDone(frame) {
    const messages = {
      take: "You have the chat. The customer has been told you joined.",
      hand_back: "Handed back to the bot.",
      close: "Chat closed.",
      approve: frame.delivered ? "Approved. The customer sees the result now." : "Approved.",
      deny: frame.delivered ? "Denied. The customer has been told." : "Denied.",
    };
    if (frame.action !== "reply") toast(messages[frame.action] || "Done.", "ok");
    if (frame.action === "approve" || frame.action === "deny") {
      selected = null;
      showPlaceholder();
    }
  }

  // ------------------------------------------------------------------ lists

  function setTab(which) {
    tab = which;
    $("tab-queue").setAttribute("aria-selected", String(which === "queue"));
    $("tab-approvals").setAttribute("aria-selected", String(which === "approvals"));
    $("queue-list").hidden = which !== "queue";
    $("approval-list").hidden = which !== "approvals";
    $("queue-empty").hidden = which !== "queue" || queue.length > 0;
    $("approval-empty").hidden = which !== "approvals" || approvals.length > 0;
  }
  $("tab-queue").addEventListener("click", () => setTab("queue"));
  $("tab-approvals").addEventListener("click", () => setTab("approvals"));

  function renderQueue() {
    const list = $("queue-list");
    list.replaceChildren();
    for (const item of queue) {
      const s = item.summary;
      const state = item.agent ? (item.agent === me ? "With you" : `With ${item.agent}`) : "Waiting";
      const active = selected && selected.kind === "conversation" && selected.id === item.session_id;
      const button = el("button", {
        type: "button", class: "item" + (active ? " active" : "") + (unread.has(item.session_id) ? " unread" : ""),
        "data-session": item.session_id,
        onclick: () => openConversation(item.session_id),
      }, [
        el("span", { class: "item-top" }, [
          el("strong", { text: customerName(s) }),
          el("span", { class: "item-time", text: ago(item.updated_at) }),
        ]),
        el("span", { class: "item-reason", text: words(s.reason) + " · " + (s.intents.map(words).join(", ") || "no request yet") }),
        el("span", { class: "pill " + (item.agent ? "pill-taken" : "pill-waiting"), text: state }),
      ]);
      list.appendChild(el("li", {}, [button]));
    }
    $("queue-count").textContent = String(queue.length);
    setTab(tab);
  }

  function renderApprovals() {
    const list = $("approval-list");
    list.replaceChildren();
    for (const item of approvals) {
      const active = selected && selected.kind === "approval" && selected.id === item.approval_id;
      const who = item.customer.first_name ? `${item.customer.first_name} (${item.customer.user_id})` : (item.customer.user_id || "customer");
      list.appendChild(el("li", {}, [el("button", {
        type: "button", class: "item" + (active ? " active" : ""), "data-approval": item.approval_id,
        onclick: () => openApproval(item.approval_id),
      }, [
        el("span", { class: "item-top" }, [el("strong", { text: words(item.tool) }), el("span", { class: "item-time", text: ago(item.created_at) })]),
        el("span", { class: "item-reason", text: who + " · " + item.approval_id }),
        el("span", { class: "pill pill-waiting", text: "Needs approval" }),
      ])]));
    }
    $("approval-count").textContent = String(approvals.length);
    if (selected && selected.kind === "approval" && !approvals.some((a) => a.approval_id === selected.id)) {
      selected = null;
      showPlaceholder();
    }
    setTab(tab);
  }

  // ------------------------------------------------------------------ detail

  function showPlaceholder() {
    $("placeholder").hidden = false;
    $("conversation").hidden = true;
    $("approval").hidden = true;
    current = null;
  }

  function openConversation(sessionId) {
    selected = { kind: "conversation", id: sessionId };
    unread.delete(sessionId);
    renderQueue();
    send({ type: "open", session_id: sessionId });
  }

  function openApproval(approvalId) {
    selected = { kind: "approval", id: approvalId };
    renderApprovals();
    const item = approvals.find((a) => a.approval_id === approvalId);
    if (!item) return;
    current = null;
    $("placeholder").hidden = true;
    $("conversation").hidden = true;
    $("approval").hidden = false;
    $("appr-title").textContent = `${words(item.tool)} · ${item.approval_id}`;
    $("appr-sub").textContent = `Requested ${ago(item.created_at)} for ${item.customer.first_name || ""} ${item.customer.user_id ? "(" + item.customer.user_id + ")" : ""}`.trim();
    const dl = $("appr-details");
    dl.replaceChildren();
    const rows = [["Why it needs approval", item.reason], ["Identity", words(item.customer.identity_level || "unknown")]];
    for (const [key, value] of Object.entries(item.arguments)) {
      const money = /amount|total|price/.test(key) && typeof value === "number";
      rows.push([words(key), money ? value.toLocaleString("en-US", { style: "currency", currency: "USD" }) : formatValue(value)]);
    }
    for (const [term, value] of rows) dl.append(el("dt", { text: term }), el("dd", { text: formatValue(value) }));
    $("appr-note").value = "";
    $("open-approval-chat").hidden = !item.session_id;
  }

  function decide(approve) {
    if (!selected || selected.kind !== "approval") return;
    const note = $("appr-note").value.trim() || null;
    send({ type: "decide", approval_id: selected.id, approve, note });
  }
  $("approve").addEventListener("click", () => decide(true));
  $("deny").addEventListener("click", () => decide(false));
  $("open-approval-chat").addEventListener("click", () => {
    const item = approvals.find((a) => selected && a.approval_id === selected.id);
    if (item && item.session_id) openConversation(item.session_id);
  });

  function summaryRows(s) {
    const actions = (s.actions || []).map((a) => {
      const proof = a.verified ? `verified${a.confirmation_id ? ", " + a.confirmation_id : ""}` : "NOT verified";
      return `${words(a.tool)}: ${a.status} (${proof})`;
    });
    const failed = (s.failed_steps || []).map((f) => `${words(f.tool)}: ${f.status}${f.error && f.error.message ? " — " + f.error.message : ""}`);
    return [
      ["Customer", customerName(s)],
      ["Identity", `${words(s.identity_level)}${s.customer && s.customer.verified_by ? " (by " + s.customer.verified_by + ")" : ""}`],
      ["Why here", words(s.reason)],
      ["Issue", s.issue_summary],
      ["Requests", (s.intents || []).map(words).join(", ") || "—"],
      ["Details", Object.keys(s.slots || {}).length ? Object.entries(s.slots).map(([k, v]) => `${words(k)}: ${formatValue(v)}`).join("\n") : "—"],
      ["Actions", actions.join("\n") || "None"],
      ["Failed steps", failed.join("\n") || "None"],
      ["Next step", s.recommended_next_step],
      ["Mood", `sentiment ${Number(s.sentiment).toFixed(2)}, frustration ${s.frustration}`],
      ["Language", s.language],
      ["Ticket", s.ticket_id || "—"],
    ];
  }

  function renderConversation() {
    if (!current) return;
    const s = current.summary;
    $("placeholder").hidden = true;
    $("approval").hidden = true;
    $("conversation").hidden = false;
    $("conv-title").textContent = customerName(s);
    $("conv-sub").textContent = `${words(s.channel)} · ${s.language} · ${current.session_id}`;
    const dl = $("summary");
    dl.replaceChildren();
    for (const [term, value] of summaryRows(s)) {
      const dd = el("dd", { text: value });
      if (term === "Next step") dd.className = "next-step";
      if (term === "Actions" && /NOT verified/.test(value)) dd.className = "warn";
      dl.append(el("dt", { text: term }), dd);
    }
    const list = $("transcript");
    list.replaceChildren();
    for (const line of current.transcript) appendLine(line);
    renderControls();
  }

  function appendLine(line) {
    const list = $("transcript");
    const who = line.role === "customer" ? "Customer" : line.role === "agent" ? (line.agent || "Agent") : line.role === "bot" ? "Frontdesk" : line.role;
    list.appendChild(el("li", { class: `line line-${line.role}` }, [
      el("span", { class: "line-who", text: `${who} · ${clock(line.at)}` }),
      el("p", { text: line.text }),
    ]));
    list.scrollTop = list.scrollHeight;
  }

  function renderControls() {
    if (!current) return;
    const mine = current.mode === "agent" && current.agent === me;
    const status = current.mode === "agent" ? (current.agent ? (mine ? "With you" : `With ${current.agent}`) : "Waiting for a person")
      : current.mode === "closed" ? "Closed" : "With the bot";
    const pill = $("conv-status");
    pill.textContent = status;
    pill.className = "pill " + (mine ? "pill-mine" : current.mode === "agent" ? "pill-waiting" : "pill-idle");
    $("take").hidden = mine;
    $("take").textContent = current.mode === "agent" && current.agent ? "Take over" : "Take chat";
    $("hand-back").disabled = current.mode !== "agent";
    $("close-chat").disabled = current.mode === "closed";
    $("reply-text").disabled = !mine;
    $("reply-send").disabled = !mine;
    $("reply-text").placeholder = mine ? "Reply to the customer… (Enter sends)" : "Take the chat to reply…";
  }

  $("take").addEventListener("click", () => { if (current) send({ type: "take", session_id: current.session_id }); });
  $("hand-back").addEventListener("click", () => { if (current) send({ type: "hand_back", session_id: current.session_id }); });
  $("close-chat").addEventListener("click", () => { if (current) send({ type: "close", session_id: current.session_id }); });

  function sendReply() {
    const box = $("reply-text");
    const text = box.value.trim();
    if (!text || !current) return;
    if (send({ type: "reply", session_id: current.session_id, text })) box.value = "";
  }
  $("reply").addEventListener("submit", (event) => { event.preventDefault(); sendReply(); });
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendReply(); }
  });

  setInterval(() => { if (signedIn) renderQueue(); }, 30000); // keep "n min ago" honest
  connect();
})();
