// What the agent desktop and the supervisor console share: their language, the API
// with the session's token, the live event stream, the phone in the page, the login
// form. Every value shown is set as text (never as HTML); the token lives in the
// tab's sessionStorage and travels in the Authorization header (the event stream's
// WebSocket is the one place a browser forces it into the URL).

export const $ = (id) => document.getElementById(id);

// Words both pages say (each page adds its own).
const WORDS = {
  en: {
    login_title: "Log in", job_number: "Job number", password: "Password", log_in: "Log in",
    log_out: "Log out", state: "State", reason_break: "Break", reason_lunch: "Lunch",
    reason_training: "Training", reason_callback_work: "Callback work", reason_other: "Other",
    reason_no_answer: "No answer", caller: "Caller", line: "Line", st_logged_out: "Logged out",
    st_ready: "Ready", st_ringing: "Ringing", st_talking: "Talking", st_after_call: "Wrap-up",
    st_not_ready: "Not ready", phone_registered: "Phone ready",
    phone_connecting: "Phone connecting...", link_ok: "Connected",
    link_reconnecting: "Reconnecting...", bad_login: "Wrong job number or password",
    failed: "Could not do that", save: "Save", cat_consultation: "Consultation",
    cat_service_request: "Service request", cat_complaint: "Complaint",
    cat_suggestion: "Suggestion", urg_normal: "Normal", urg_urgent: "Urgent",
    urg_critical: "Critical", line_cruise: "Cruise", line_tour: "Tour",
    line_free_travel: "Free travel",
  },
  zh: {
    login_title: "登录", job_number: "工号", password: "密码", log_in: "登录", log_out: "签出", state: "状态",
    reason_break: "休息", reason_lunch: "午餐", reason_training: "培训", reason_callback_work: "回访工作",
    reason_other: "其他", reason_no_answer: "未接听", caller: "来电", line: "业务线", st_logged_out: "已签出",
    st_ready: "就绪", st_ringing: "振铃", st_talking: "通话中", st_after_call: "话后整理", st_not_ready: "未就绪",
    phone_registered: "话机就绪", phone_connecting: "话机连接中…", link_ok: "已连接",
    link_reconnecting: "正在重新连接…", bad_login: "工号或密码错误", failed: "操作未成功", save: "保存",
    cat_consultation: "咨询", cat_service_request: "服务请求", cat_complaint: "投诉", cat_suggestion: "建议",
    urg_normal: "普通", urg_urgent: "紧急", urg_critical: "非常紧急", line_cruise: "邮轮", line_tour: "跟团游",
    line_free_travel: "自由行",
  },
};

// ---- language: English or Chinese, from the browser, switchable (kept in this browser) ----
export function language(pageWords) {
  const tables = { en: { ...WORDS.en, ...pageWords.en }, zh: { ...WORDS.zh, ...pageWords.zh } };
  let lang = localStorage.getItem("acd-lang")
    || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  const t = (key, vars) => {
    let text = (tables[lang] && tables[lang][key]) || tables.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
    return text;
  };
  // The page's marked texts (data-t, data-t-placeholder) in the language now, then `redraw`;
  // the language menu switches it. Returns the function that does it.
  const follow = (redraw) => {
    const apply = () => {
      document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
      document.title = t("title");
      for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
      for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = t(el.dataset.tPlaceholder);
      $("lang").value = lang;
      redraw();
    };
    $("lang").addEventListener("change", () => {
      lang = $("lang").value;
      localStorage.setItem("acd-lang", lang);
      apply();
    });
    return apply;
  };
  // A line's name (the IVR tree's lines are named in WORDS); another is shown as it is.
  const lineName = (line) => (tables.en[`line_${line}`] ? t(`line_${line}`) : line);
  return { t, follow, lineName, code: () => lang, locale: () => (lang === "zh" ? "zh-CN" : "en-GB") };
}

// ---- which engine serves the page: this one, or (a standby pair) the one that leads ----
// `base` is "" (the page's own engine) or another engine's address; `peers` are the
// pair's other engines, from /healthz. When the event stream is lost, `findLeader` asks
// each in turn (a standby answers with the leader's address) and moves the page there:
// the page, its phone and the call in it stay; the API and the stream follow.
export const engine = { base: "", peers: [] };

async function health(address) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 2000);
  try {
    const resp = await fetch(`${address}/healthz`, { cache: "no-store", signal: ctl.signal });
    return await resp.json();
  } catch (err) {
    return null; // gone, or not answering
  } finally {
    clearTimeout(timer);
  }
}

// Learn the pair's other engines (none outside a standby pair).
export async function learnPeers() {
  const body = await health(engine.base);
  if (body && Array.isArray(body.peers)) {
    engine.peers = [...new Set([...engine.peers, ...body.peers])];
  }
}

// The engine that serves the centre now (true), or none answers yet (false).
export async function findLeader() {
  const here = location.origin;
  const tried = new Set();
  const queue = [engine.base || here, ...engine.peers, here];
  while (queue.length) {
    const address = queue.shift().replace(/\/+$/, "");
    if (tried.has(address)) continue;
    tried.add(address);
    const body = await health(address === here ? "" : address);
    if (!body) continue;
    if (body.status === "standby") { // it points at the leader
      if (body.leader && body.leader.address) queue.unshift(body.leader.address);
      continue;
    }
    engine.base = address === here ? "" : address;
    if (Array.isArray(body.peers)) {
      engine.peers = [...new Set([...engine.peers, ...body.peers, here])].filter((p) => p !== address);
    }
    return true;
  }
  return false;
}

// ---- the API: the session's token in a header; a 401 ends the session (`ended`) ----
export function apiClient(token, ended) {
  // The response; a refusal throws with the API's own message.
  async function request(method, path, body) {
    const headers = { Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(`${engine.base}/api/v1${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401) { ended(); throw new Error("unauthorized"); }
    if (!resp.ok) {
      const data = await resp.json().catch(() => ({}));
      throw new Error(data.message || `${resp.status}`);
    }
    return resp;
  }
  // The answer's JSON.
  const json = async (method, path, body) => (await request(method, path, body)).json();
  return { request, json };
}

// What the user asked for: a failure says why in #message (after `failed`), a success
// clears the last failure. ``quiet``: the page's own fetching, which leaves the message
// (the engine's, a "saved") as it is. The answer's JSON, or null.
export function actions(json, failed) {
  return async function act(method, path, body, { quiet = false } = {}) {
    try {
      const result = await json(method, path, body);
      if (!quiet) $("message").textContent = "";
      return result;
    } catch (err) {
      $("message").textContent = `${failed()}: ${err.message}`;
      return null;
    }
  };
}

// ---- the live event stream: a snapshot, then changes; resumes where it left off ----
// `from()` gives {token, epoch, seq}; `onLink("ok" | "reconnecting")`; `onEnded()` when the
// token has ended (close code 4401, also at connect): the page asks to log in again.
export function eventStream({ from, onEvent, onLink, onEnded }) {
  let ws = null, retry = 0, timer = null, learnt = false;
  function open() {
    clearTimeout(timer);
    if (!learnt) { learnt = true; learnPeers(); }
    const { token, epoch, seq } = from();
    const where = new URL(engine.base || location.origin);
    const proto = where.protocol === "https:" ? "wss" : "ws";
    const since = epoch !== null ? `&epoch=${encodeURIComponent(epoch)}&since=${seq}` : "";
    const socket = new WebSocket(`${proto}://${where.host}/api/v1/events?token=${encodeURIComponent(token)}${since}`);
    ws = socket;
    // Open is in sync: a resume replays what was missed, and a quiet one sends nothing.
    socket.onopen = () => { if (ws === socket) onLink("ok"); };
    socket.onmessage = (msg) => { retry = 0; onEvent(JSON.parse(msg.data)); };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      onLink("reconnecting");
      if (ev.code === 4401) { ws = null; onEnded(); return; }
      // Back, or to whichever engine leads now (a standby pair), then the stream again.
      timer = setTimeout(async () => {
        if (ws !== socket) return;
        try { await findLeader(); } finally { if (ws === socket) open(); }
      }, Math.min(5000, 300 * 2 ** retry++));
    };
  }
  function close() {
    clearTimeout(timer);
    const socket = ws;
    ws = null;
    if (socket) socket.close();
  }
  return { open, close };
}

// ---- the phone in the page, loaded on its own: without its library (SIP.js not
// installed) the page works all the same and the desk phone rings ----
const NO_PHONE = {
  state: "down", endpoint: null, invitation: null, session: null, remoteStream: null, ringing: false,
  start: async () => { throw new Error("the browser phone's library is not installed"); },
  stop: async () => {}, answer: () => null, hangUp: () => false,
};

export async function pagePhone(options) {
  const BrowserPhone = await import("/desktop/phone.js").then(
    (m) => m.BrowserPhone,
    (err) => { console.warn(`no browser phone: ${err}`); return null; },
  );
  return BrowserPhone ? new BrowserPhone(options) : { ...NO_PHONE };
}

// ---- the login form: job number and password for a token (`loggedIn(token)`) ----
export function loginForm(t, loggedIn) {
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    const resp = await fetch(`${engine.base}/api/v1/auth/login`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ job_number: $("job").value.trim(), password: $("password").value }),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      $("login-error").textContent = resp.status === 401 ? t("bad_login") : (data.message || resp.status);
      return;
    }
    $("password").value = "";
    sessionStorage.setItem("acd-token", data.token);
    await loggedIn(data.token);
  });
}

// A length of time as h:mm:ss (or m:ss).
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}
