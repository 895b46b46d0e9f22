// The agent desktop: log in, the phone in the page (SIP.js over Asterisk's
// WebSocket, WebRTC media), the agent's state and calls from the live event
// stream. What it shares with the console (language, API, stream, phone, login)
// is in page.js; every value shown is set as text (never as HTML).
import { $, actions, apiClient, clock, eventStream, language, loginForm, pagePhone } from "/desktop/page.js";

const T = {
  en: {
    title: "Agent desktop", ready: "Ready", not_ready: "Not ready",
    wrap_end: "End wrap-up", wrap_extend: "More wrap-up", break_after: "Break after this call",
    ivr_path: "IVR path", waited: "Waited", history: "Earlier calls",
    answer: "Answer", hang_up: "Hang up", hold: "Hold", resume: "Resume",
    phone_down: "Phone offline",
    incoming: "Incoming call", on_call: "On the call", on_hold: "On hold",
    seconds: "s", unknown: "(unknown)",
    no_history: "No earlier calls", callback: "Callback",
    notify_title: "acd: incoming call",
    registration: "After-call registration", category: "Category", urgency: "Urgency",
    notes: "Notes", follow_up: "Open a follow-up ticket", saved: "Registered",
    today: "Today", calls: "Calls", talk_time: "Talk time", rating: "Average rating",
    console: "Supervisor console", raw_audio: "Headset audio",
    rec_pause: "Pause recording", rec_resume: "Resume recording", recording_paused: "Recording paused",
    transfer_line: "Transfer to line", transfer_person: "Transfer to person",
    number: "Number", dial: "Call", callback_next: "Next callback",
    out_answered: "Answered", out_abandoned: "Abandoned", out_callback_requested: "Callback requested",
    out_ivr_only: "Left in the menu", raw_audio_tip: "Your headset cancels echo and noise itself: the browser leaves your voice as it is",
    use_desk: "Take calls on my desk phone", session_ended: "Your session has ended: log in again (your call goes on)",
    transferring: "Transferring...", rec_start: "Record this call", recording_on: "Recording",
    msg_not_put_through: "The call could not be put through: the caller waits again",
    msg_transfer_failed: "Transfer failed: the caller is still with you",
    msg_dial_failed: "The call was not made",
    msg_peak_callbacks_paused: "Peak: callback work is paused, please take calls",
    msg_peak_breaks_suspended: "Peak: breaks are suspended, please come back",
    msg_peak_all_staff: "Peak: all staff on the phones, on every line",
  },
  zh: {
    title: "坐席工作台", ready: "就绪", not_ready: "未就绪",
    wrap_end: "结束整理", wrap_extend: "延长整理", break_after: "本通后休息",
    ivr_path: "语音导航", waited: "等待", history: "历史来电",
    answer: "接听", hang_up: "挂断", hold: "保持", resume: "恢复",
    phone_down: "话机离线",
    incoming: "来电", on_call: "通话中", on_hold: "保持中",
    seconds: "秒", unknown: "（未知）",
    no_history: "没有历史来电", callback: "回电",
    notify_title: "acd：来电",
    registration: "话后登记", category: "类别", urgency: "紧急程度",
    notes: "备注", follow_up: "创建跟进工单", saved: "已登记",
    today: "今日", calls: "通话", talk_time: "通话时长", rating: "平均评分",
    console: "班长控制台", raw_audio: "耳麦原声",
    rec_pause: "暂停录音", rec_resume: "恢复录音", recording_paused: "录音已暂停",
    transfer_line: "转业务线", transfer_person: "转人工",
    number: "号码", dial: "呼叫", callback_next: "下一个回电",
    out_answered: "已接通", out_abandoned: "放弃", out_callback_requested: "预约回电",
    out_ivr_only: "菜单中挂断", raw_audio_tip: "耳麦自带回声和降噪处理：浏览器不再处理您的声音",
    use_desk: "使用桌面话机接听", session_ended: "登录已失效：请重新登录（当前通话不会中断）",
    transferring: "正在转接…", rec_start: "开始录音", recording_on: "录音中",
    msg_not_put_through: "来电未能接通：已重新排队",
    msg_transfer_failed: "转接失败：来电仍在您这里",
    msg_dial_failed: "呼叫未能发出",
    msg_peak_callbacks_paused: "高峰：暂停回访，请接听来电",
    msg_peak_breaks_suspended: "高峰：暂停休息，请返回岗位",
    msg_peak_all_staff: "高峰：全员上线，接听所有业务线",
  },
};

const L = language(T);
const t = L.t;
const lineName = L.lineName;

// What the page knows; `window.acd` lets tests (and curious agents) read it.
const S = {
  token: sessionStorage.getItem("acd-token"),
  me: null, agent: null, pop: null, phone: "down", link: "down",
  epoch: null, seq: null, invitation: null, session: null, held: false,
  lastCall: null, toRegister: null, popFor: null, today: null, rec: null, expectCall: 0,
};
window.acd = S;

const translate = L.follow(() => {
  $("raw-audio").parentElement.title = t("raw_audio_tip");
  render();
});

const api = apiClient(() => S.token, () => sessionEnded()).json;
const act = actions(api, () => t("failed"));

// ---- log in and out ----
$("use-desk").checked = localStorage.getItem("acd-use-desk") === "1";
$("use-desk").addEventListener("change", () => localStorage.setItem("acd-use-desk", $("use-desk").checked ? "1" : "0"));

loginForm(t, async (token) => {
  S.token = token;
  await start();
});

$("logout").addEventListener("click", async () => {
  // Never in the middle of a call (the button is off then); if the ACD refuses, stay.
  if (S.me && S.me.role !== "admin" && S.agent && S.agent.state !== "logged_out") {
    if (!(await act("POST", `/agents/${S.me.job_number}/logout`))) return;
  }
  await stopPhone();
  await act("POST", "/auth/logout");
  loggedOut();
});

// The token expired or was revoked: log in again. A call in progress (answered) goes
// on in the page's phone meanwhile; when it ends the phone stops (see onChange).
function sessionEnded() {
  const onCall = Boolean(phone.session);
  loggedOut({ keepPhone: onCall });
  if (onCall) $("login-error").textContent = t("session_ended");
}

function loggedOut({ keepPhone = false } = {}) {
  sessionStorage.removeItem("acd-token");
  Object.assign(S, {
    token: null, me: null, agent: null, pop: null, epoch: null, seq: null, link: "down",
    lastCall: null, toRegister: null, popFor: null, today: null, held: false, rec: null, expectCall: 0,
  });
  stream.close();
  if (!keepPhone) stopPhone();
  ring(false);
  $("desk").hidden = true; $("login").hidden = false; $("link").hidden = true; $("phone").hidden = true;
  $("who").textContent = "";
  $("to-console").hidden = true;
}

async function start() {
  S.me = await api("GET", "/me");
  $("who").textContent = S.me.name ? `${S.me.name} (${S.me.job_number})` : S.me.job_number;
  $("login").hidden = true; $("desk").hidden = false;
  $("to-console").hidden = S.me.role !== "supervisor";
  stream.open();
  if (S.me.role === "admin") { render(); return; } // admins take no calls
  let endpoint;
  const mine = `PJSIP/web${S.me.job_number}`;
  // A phone kept through a new login goes on only with the call it kept, and only
  // for its own agent; any other starts again with a secret of this session's.
  const keep = phone.session && phone.endpoint === mine;
  phoneStale = Boolean(keep); // its secret was the ended session's: renewed after the call
  const desk = $("use-desk").checked;
  if (!keep && (desk || phone.state !== "down")) await stopPhone(); // desk: none in the page
  if (!desk) {
    try {
      if (!keep) await startPhone();
      endpoint = phone.endpoint;
    } catch (err) {
      // No phone in the page (none configured, or Asterisk unreachable): the desk phone rings.
      S.phone = "down";
      $("message").textContent = `${t("phone_down")}: ${err.message}`;
    }
  }
  // Work at the browser phone today (the desk phone stays the agent's own). Logged in
  // at the other one (a reload, the choice changed): moved here, unless on a call.
  const agent = await act("GET", `/agents/${S.me.job_number}`, undefined, { quiet: true });
  const atBrowser = agent && agent.endpoint === mine;
  const elsewhere = agent && agent.state !== "logged_out" && atBrowser !== Boolean(endpoint);
  const free = agent && ["ready", "not_ready", "after_call"].includes(agent.state);
  if (elsewhere && free) await act("POST", `/agents/${S.me.job_number}/logout`);
  if (agent && (agent.state === "logged_out" || (elsewhere && free))) {
    await act("POST", `/agents/${S.me.job_number}/login`, endpoint ? { endpoint } : undefined);
  }
  await refreshToday();
}

// ---- the phone in the page ----
// Browsers clean the microphone (echo cancelling, noise suppression, gain); an agent
// whose headset does that itself turns it off here (kept in this browser).
$("raw-audio").checked = localStorage.getItem("acd-raw-audio") === "1";
$("raw-audio").addEventListener("change", () => {
  localStorage.setItem("acd-raw-audio", $("raw-audio").checked ? "1" : "0");
  phone.rawAudio = $("raw-audio").checked;
});
const phone = await pagePhone({
  audio: $("remote"),
  onChange: (p) => {
    const rang = p.invitation && !S.invitation;
    Object.assign(S, { phone: p.state, invitation: p.invitation, session: p.session, remoteStream: p.remoteStream });
    if (!p.invitation) S.held = false;
    // The call kept through a lost session ended: nobody is here to take the next one;
    // or the agent logged in again meanwhile: the phone gets this session's secret.
    if (!S.me && !p.invitation && p.state !== "down") { phone.stop(); return; }
    if (S.me && phoneStale && !p.invitation) {
      phoneStale = false;
      phone.stop().then(startPhone).catch((err) => { $("message").textContent = `${t("phone_down")}: ${err.message}`; });
    }
    // The call the agent just placed (its caller id is the number dialled): take it.
    if (rang && S.expectCall > Date.now() && p.remoteUser === S.expectNumber) {
      S.expectCall = 0;
      answer();
    }
    if (rang && document.hidden && "Notification" in window && Notification.permission === "granted") {
      const pop = S.pop || {};
      try {
        new Notification(t("notify_title"), { body: [pop.caller_name, pop.caller_number].filter(Boolean).join(" ") });
      } catch (err) { /* a browser that only notifies from a service worker: the page rings */ }
    }
    render();
  },
});

// A call ringing in the page rings out loud too (a tab in the background, no
// notifications allowed): the usual 440 + 480 Hz tone, 2 s on and 4 s off, scheduled
// on the audio clock (timers in a background tab are slowed down). Browsers let a
// page make sound once it was clicked: the one audio context is resumed then.
let audio = null, ringer = null;
function audioContext() {
  if (!audio) { try { audio = new AudioContext(); } catch (err) { audio = null; } }
  return audio;
}
document.addEventListener("click", () => { const ctx = audioContext(); if (ctx) ctx.resume().catch(() => {}); });
function ring(on) {
  const ctx = audioContext();
  if (on && !ringer && ctx) {
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const tones = [440, 480].map((hz) => {
      const tone = ctx.createOscillator();
      tone.frequency.value = hz;
      tone.connect(gain);
      tone.start();
      return tone;
    });
    for (let i = 0; i < 20; i++) { // two minutes: longer than any ring
      gain.gain.setValueAtTime(0.08, ctx.currentTime + 6 * i);
      gain.gain.setValueAtTime(0, ctx.currentTime + 6 * i + 2);
    }
    ringer = { gain, tones };
  } else if (!on && ringer) {
    for (const tone of ringer.tones) tone.stop();
    ringer.gain.disconnect();
    ringer = null;
  }
}

let phoneStale = false; // kept through a lost session: its secret ended with it

async function startPhone() {
  phone.rawAudio = $("raw-audio").checked;
  await phone.start(() => api("POST", "/me/web-phone", { page: "desktop" }));
}

async function stopPhone() {
  await phone.stop();
}

function answer() {
  const answering = phone.answer();
  // No microphone (absent or not allowed): say so instead of failing silently.
  if (answering) answering.catch((err) => { $("message").textContent = `${t("failed")}: ${err.message || err}`; });
}

function hangUp() {
  if (phone.hangUp()) return;
  if (S.me && S.agent && S.agent.state === "talking") act("POST", `/agents/${S.me.job_number}/hangup`);
}

$("answer").addEventListener("click", answer);
$("hangup").addEventListener("click", hangUp);
$("hold").addEventListener("click", async () => { if (await act("POST", `/agents/${S.me.job_number}/hold`)) { S.held = true; render(); } });
$("unhold").addEventListener("click", async () => { if (await act("POST", `/agents/${S.me.job_number}/unhold`)) { S.held = false; render(); } });
// What the line allows (recorded always, never, or on demand) and where it is now.
async function recording(action) {
  const done = await act("POST", `/agents/${S.me.job_number}/recording`, { action });
  if (done && S.rec) { S.rec.state = done.recording; render(); }
}
$("rec-start").addEventListener("click", () => recording("start"));
$("rec-pause").addEventListener("click", () => recording("pause"));
$("rec-resume").addEventListener("click", () => recording("resume"));
// Asked for; whether it worked shows when the call leaves (or in a message if not).
async function transfer(body) {
  if (await act("POST", `/agents/${S.me.job_number}/transfer`, body)) $("message").textContent = t("transferring");
}
$("transfer-to-line").addEventListener("click", () => transfer({ to_line: $("transfer-line").value }));
$("transfer-to-agent").addEventListener("click", () => {
  const to = $("transfer-agent").value.trim();
  if (to) transfer({ to_agent: to });
});
// Click-to-dial: acd rings this phone first, then the number.
$("dial").addEventListener("click", async () => {
  const number = $("dial-number").value.replace(/[\s-]/g, "");
  if (!number) return;
  S.expectCall = Date.now() + 30000;
  S.expectNumber = number;
  if (!(await act("POST", `/agents/${S.me.job_number}/dial`, { number }))) S.expectCall = 0;
});
$("callback-next").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/callbacks/next`));
$("ready").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/ready`));
$("not-ready").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/not-ready`, { reason: $("not-ready-reason").value }));
$("wrap-end").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/wrap-up/end`));
$("wrap-extend").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/wrap-up/extend`, { seconds: 60 }));
$("break-after").addEventListener("click", () => act("POST", `/agents/${S.me.job_number}/break-after-call`));

document.addEventListener("keydown", (ev) => {
  if (!ev.altKey || !S.me) return;
  const key = ev.code; // the key's place, whatever Alt makes it type (macOS: "å")
  if (key === "KeyA") { ev.preventDefault(); answer(); }
  if (key === "KeyH") { ev.preventDefault(); hangUp(); }
  if (key === "KeyR") { ev.preventDefault(); act("POST", `/agents/${S.me.job_number}/ready`); }
});

// ---- the live event stream: a snapshot, then changes; resumes where it left off ----
const stream = eventStream({
  from: () => ({ token: S.token, epoch: S.epoch, seq: S.seq }),
  onEvent: (ev) => onEvent(ev),
  onLink: (state) => { S.link = state; render(); },
  onEnded: () => sessionEnded(), // the token ended: log in again
});

function onEvent(ev) {
  if (ev.kind === "snapshot") {
    S.epoch = ev.epoch; S.seq = ev.seq; S.link = "ok";
    const mine = (ev.data.agents || []).find((a) => a.job_number === S.me.job_number);
    if (mine) S.agent = mine;
    if (mine && !mine.call_id) S.pop = null; // a call that ended while the page was away
    if (mine && mine.state === "talking" && mine.call_id) S.lastCall = mine.call_id;
    if (mine && mine.state === "talking") S.pop = null; // reloaded with its recording below
    if (S.agent && S.agent.call_id && !S.pop) loadPop();
  } else {
    S.seq = ev.seq;
    const d = ev.data || {};
    if (ev.kind === "agent_state" && d.agent === S.me.job_number) {
      const startsTalking = d.state === "talking" && (d.old !== "talking" || d.call_id !== S.lastCall);
      if (d.state === "talking" && d.call_id) S.lastCall = d.call_id;
      if (d.old === "talking" && d.state !== "talking" && S.lastCall) {
        // The call ended: register it. Its pop may still be on its way (a call ended, say
        // transferred, right after a new login or a restart): registered when it comes.
        if (S.pop && S.pop.call_id === S.lastCall) openRegistration(S.pop);
        else S.popFor = S.lastCall;
        S.held = false; S.rec = null;
        refreshToday();
      }
      S.agent = { ...(S.agent || {}), state: d.state, reason: d.reason, call_id: d.call_id, since: ev.at };
      if (!d.call_id) S.pop = null;
      else if (startsTalking || !S.pop || S.pop.call_id !== d.call_id) loadPop(); // with its recording
    } else if (ev.kind === "recording" && d.agent === S.me.job_number) {
      if (S.rec && d.call_id === S.lastCall) S.rec.state = d.state;
    } else if (ev.kind === "agent_message" && d.agent === S.me.job_number) {
      $("message").textContent = T.en[`msg_${d.code}`] ? t(`msg_${d.code}`) : d.message;
    } else if ((ev.kind === "call_connected" || ev.kind === "call_taken_back") && d.agent === S.me.job_number) {
      loadPop(); // put through (its recording has started), or taken back by a new engine
    } else if (ev.kind === "call_ringing" && d.agent === S.me.job_number) {
      // The pop of the call ringing now; one that comes late (a slow database) is old news.
      if (S.agent && S.agent.call_id === d.call_id) S.pop = d;
    } else if (ev.kind === "survey" && d.agent === S.me.job_number) {
      setTimeout(refreshToday, 1000); // stored a moment after it is heard
      setTimeout(refreshToday, 4000);
    }
  }
  render();
}

async function loadPop() {
  const agent = await act("GET", `/agents/${S.me.job_number}`, undefined, { quiet: true });
  if (agent && agent.call && agent.call.call_id === S.popFor) { // that call has ended
    S.popFor = null;
    openRegistration(agent.call);
    render();
  } else if (agent) {
    S.agent = { ...S.agent, ...agent }; S.pop = agent.call;
    S.rec = agent.call && agent.call.recording ? { ...agent.call.recording } : null;
    render();
  }
}

// ---- after the call: registration; the agent's own day ----
// A call with a caller is registered (not a leg that had none).
function openRegistration(pop) {
  if (!pop.line && !pop.caller_number) return;
  S.toRegister = pop.call_id;
  $("registration").reset();
  proposeFollowUp();
}
// A follow-up is proposed for complaints, service requests and critical calls.
function proposeFollowUp() {
  const category = $("reg-category").value;
  $("reg-follow-up").checked = category === "complaint" || category === "service_request" || $("reg-urgency").value === "critical";
}
$("reg-category").addEventListener("change", proposeFollowUp);
$("reg-urgency").addEventListener("change", proposeFollowUp);
$("registration").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { category: $("reg-category").value, urgency: $("reg-urgency").value, notes: $("reg-notes").value };
  body.follow_up = $("reg-follow-up").checked;
  const done = await act("POST", `/calls/${encodeURIComponent(S.toRegister)}/registration`, body);
  if (done) { S.toRegister = null; $("message").textContent = t("saved"); render(); }
});

async function refreshToday() {
  const day = await act("GET", "/me/today", undefined, { quiet: true });
  if (day) { S.today = day; render(); }
}

// ---- drawing ----
function render() {
  if (!S.me) return;
  const link = $("link");
  link.hidden = false;
  link.textContent = S.link === "ok" ? t("link_ok") : t("link_reconnecting");
  link.className = `badge ${S.link === "ok" ? "ok" : "bad"}`;
  const phone = $("phone");
  phone.hidden = false;
  phone.textContent = t(S.phone === "registered" ? "phone_registered" : S.phone === "down" ? "phone_down" : "phone_connecting");
  phone.className = `badge ${S.phone === "registered" ? "ok" : "bad"}`;
  const a = S.agent || { state: "logged_out" };
  $("state").textContent = t(`st_${a.state}`);
  $("state").dataset.state = a.state;
  $("reason").textContent = a.reason ? `(${t(`reason_${a.reason}`)})` : "";
  const ringingHere = Boolean(S.invitation && !S.session);
  const onCall = a.state === "talking" || a.state === "ringing" || Boolean(S.invitation);
  $("ready").disabled = !(a.state === "not_ready" || a.state === "after_call");
  $("not-ready").disabled = !(a.state === "ready" || a.state === "after_call");
  $("wrap-end").disabled = a.state !== "after_call";
  $("wrap-extend").disabled = a.state !== "after_call";
  $("break-after").disabled = a.state !== "talking";
  $("call").hidden = !onCall && !S.pop;
  $("call").classList.toggle("ringing", ringingHere);
  ring(ringingHere);
  $("answer").disabled = !ringingHere;
  $("hangup").disabled = !(S.invitation || a.state === "talking");
  $("hold").disabled = !(a.state === "talking" && !S.held);
  $("unhold").disabled = !(a.state === "talking" && S.held);
  $("call-title").textContent = ringingHere ? t("incoming") : S.held ? t("on_hold") : t("on_call");
  const talking = a.state === "talking";
  const rec = (talking && S.rec) || { policy: "none", state: "off" };
  $("rec-start").hidden = rec.policy !== "on_demand";
  $("rec-start").disabled = rec.state !== "off";
  $("rec-pause").disabled = rec.state !== "recording";
  $("rec-resume").disabled = rec.state !== "paused";
  $("rec-state").textContent = rec.state === "recording" ? t("recording_on") : rec.state === "paused" ? t("recording_paused") : "";
  $("logout").disabled = onCall;
  for (const id of ["transfer-to-line", "transfer-to-agent"]) $(id).disabled = !talking;
  const free = a.state === "ready" || a.state === "not_ready" || a.state === "after_call";
  $("dial").disabled = !free || Boolean(S.invitation);
  $("callback-next").disabled = !(a.state === "not_ready" && a.reason === "callback_work");
  $("registration").hidden = !S.toRegister;
  const day = S.today || {};
  $("my-calls").textContent = String(day.answered || 0);
  $("my-talk").textContent = clock(day.talk_s);
  $("my-rating").textContent = day.survey_average != null ? Number(day.survey_average).toFixed(1) : "–";
  const pop = S.pop || {};
  $("pop-caller").textContent = [pop.caller_name, pop.caller_number].filter(Boolean).join(" ") || t("unknown");
  $("pop-line").textContent = pop.line ? lineName(pop.line) : "";
  $("pop-path").textContent = (pop.ivr_path || []).join(" › ");
  $("pop-waited").textContent = pop.waited != null ? `${Math.round(pop.waited)} ${t("seconds")}` : "";
  const body = $("pop-history");
  body.replaceChildren();
  const history = pop.history || [];
  if (!history.length) {
    const row = body.insertRow(); row.insertCell().textContent = t("no_history");
  }
  for (const h of history) {
    const row = body.insertRow();
    const at = h.at ? new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(h.at) ? h.at : `${h.at}Z`) : null;
    const when = at && !isNaN(at) ? at.toLocaleString(L.locale()) : h.at;
    for (const v of [when, h.line && lineName(h.line), h.outcome && t(`out_${h.outcome}`), h.satisfaction, h.category && t(`cat_${h.category}`)]) {
      row.insertCell().textContent = v == null ? "" : String(v);
    }
  }
}

if ("Notification" in window && Notification.permission === "default") {
  document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
}
translate();
if (S.token) start().catch(() => loggedOut()); else { $("login").hidden = false; }
