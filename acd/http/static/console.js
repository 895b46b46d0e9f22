// The supervisor console: the centre live (lines, agents, alarms) from the event
// stream, listen/whisper/barge from the phone in the page, reports with charts,
// recordings to play, follow-up tickets (tickets.js) and, for admins, users
// (admin.js). What it shares with the desktop (language, API, stream, phone, login)
// is in page.js; every value shown is set as text (never as HTML).
import { adminTab } from "/desktop/admin.js";
import { $, actions, apiClient, clock, eventStream, language, loginForm, pagePhone } from "/desktop/page.js";
import { ticketsTab } from "/desktop/tickets.js";

const T = {
  en: {
    title: "Supervisor console", tab_live: "Live", tab_reports: "Reports", tab_recordings: "Recordings",
    peak: "Peak level", answered: "Answered", abandoned: "Abandoned", offered: "Offered",
    service_level: "Service level", lines: "Lines", waiting: "Waiting", longest: "Longest wait",
    agents: "Agents", agent: "Agent", reason: "Reason", in_state: "In state", actions: "Actions",
    listen: "Listen", whisper: "Whisper", barge: "Barge in", end_call: "End call", stop_monitor: "Stop listening",
    day: "Day", week: "Week", month: "Month", show: "Show", csv_lines: "CSV: lines", csv_agents: "CSV: agents",
    traffic: "Offered, answered, abandoned", service: "Service level (%), ASA and AHT (s)",
    satisfaction: "Satisfaction", per_agent: "Per agent: answered, AHT (s)", asa: "ASA (s)", aht: "AHT (s)",
    sl_pct: "Service level (%)", ratings: "Ratings", all_lines: "All lines", search: "Search", time: "Time",
    duration: "Length", play: "Play", download: "Download", no_recordings: "No recordings",
    phone_down: "Desk phone",
    not_supervisor: "The console is for supervisors: agents work at the desktop", monitoring: "You are in agent {agent}'s call ({mode})", ringing_you: "Your phone rings: {mode} on agent {agent}",
    mode_listen: "listening", mode_whisper: "whispering", mode_barge: "barged in", total: "Total",
    alarm: "Alarm", desktop: "Desktop",
    force_login: "Log in", force_ready: "Ready", force_not_ready: "Not ready", force_logout: "Log out",
    alarm_pbx_link: "Asterisk unreachable (AMI link down)", alarm_database: "Database unavailable: facts held back",
    alarm_recording_disk_full: "Recordings disk full: calls are not recorded", no_charts: "Charts unavailable (Chart.js not installed)",
    tab_tickets: "Follow-ups", tab_admin: "Admin", cancel: "Cancel",
    tk_show_open: "Open tickets", tk_show_all: "All tickets", tk_opened: "Opened", tk_due: "Due",
    tk_urgency: "Urgency", tk_what: "About", tk_status: "Status", tk_none: "No follow-up tickets",
    tk_overdue: "overdue", tk_open: "Open", tk_taken_by: "Taken by", tk_closed: "Closed", tk_take: "Take",
    tk_close: "Close", tk_outcome: "What was done", tk_low_score: "Low rating", tk_registration: "Registered call",
    role_agent: "Agent", role_supervisor: "Team lead", role_admin: "Admin",
    ad_name: "Name", ad_role: "Role", ad_team: "Team", ad_skills: "Skills", ad_phone: "Phone", ad_password: "New password (empty: unchanged)",
    ad_hot_desks: "Hot desks (other phones this agent may log in at)", ad_edit: "Edit", ad_new_secret: "New phone secret",
    ad_delete: "Delete", ad_delete_sure: "Delete: sure?", ad_no_secret: "no secret yet", ad_saved: "Saved: {job}",
    ad_secret_once: "Phone secret for {phone}, shown this once: {secret}",
  },
  zh: {
    title: "班长控制台", tab_live: "实时", tab_reports: "报表", tab_recordings: "录音",
    peak: "高峰级别", answered: "接通", abandoned: "放弃", offered: "呼入",
    service_level: "服务水平", lines: "业务线", waiting: "排队", longest: "最长等待",
    agents: "坐席", agent: "坐席", reason: "原因", in_state: "持续", actions: "操作",
    listen: "监听", whisper: "耳语", barge: "强插", end_call: "强拆", stop_monitor: "停止监听",
    day: "日", week: "周", month: "月", show: "查看", csv_lines: "CSV：业务线", csv_agents: "CSV：坐席",
    traffic: "呼入、接通、放弃", service: "服务水平（%）、平均应答和平均处理时长（秒）",
    satisfaction: "满意度", per_agent: "各坐席：接通量、平均处理时长（秒）", asa: "平均应答（秒）", aht: "平均处理（秒）",
    sl_pct: "服务水平（%）", ratings: "评价数", all_lines: "全部业务线", search: "查询", time: "时间",
    duration: "时长", play: "播放", download: "下载", no_recordings: "没有录音",
    phone_down: "桌面话机",
    not_supervisor: "控制台仅供班长使用：坐席请使用工作台", monitoring: "您在坐席 {agent} 的通话中（{mode}）", ringing_you: "您的话机正在振铃：{mode}坐席 {agent}",
    mode_listen: "监听", mode_whisper: "耳语", mode_barge: "强插", total: "合计",
    alarm: "告警", desktop: "工作台",
    force_login: "签入", force_ready: "置就绪", force_not_ready: "置未就绪", force_logout: "签出",
    alarm_pbx_link: "无法连接 Asterisk（AMI 中断）", alarm_database: "数据库不可用：记录暂存待写",
    alarm_recording_disk_full: "录音磁盘已满：通话未录音", no_charts: "图表不可用（未安装 Chart.js）",
    tab_tickets: "跟进工单", tab_admin: "管理", cancel: "取消",
    tk_show_open: "未完成工单", tk_show_all: "全部工单", tk_opened: "创建", tk_due: "期限",
    tk_urgency: "紧急程度", tk_what: "事由", tk_status: "状态", tk_none: "没有跟进工单",
    tk_overdue: "已超期", tk_open: "待领取", tk_taken_by: "处理人", tk_closed: "已关闭", tk_take: "领取",
    tk_close: "关闭", tk_outcome: "处理结果", tk_low_score: "低分评价", tk_registration: "话后登记",
    role_agent: "坐席", role_supervisor: "班长", role_admin: "管理员",
    ad_name: "姓名", ad_role: "角色", ad_team: "班组", ad_skills: "技能", ad_phone: "话机", ad_password: "新密码（留空则不变）",
    ad_hot_desks: "可签入的其他话机（热座席）", ad_edit: "编辑", ad_new_secret: "重置话机密码",
    ad_delete: "删除", ad_delete_sure: "确认删除？", ad_no_secret: "尚无密码", ad_saved: "已保存：{job}",
    ad_secret_once: "{phone} 的话机密码（仅显示这一次）：{secret}",
  },
};

const L = language(T);
const t = L.t;
const lineName = L.lineName;

// What the console knows; `window.acd` lets tests read it.
const S = {
  token: sessionStorage.getItem("acd-token"),
  me: null, snap: null, skew: 0, link: "down", epoch: null, seq: null, phone: "down",
  session: null, remoteStream: null,
  monitor: null, // { agent, mode, answered } while the supervisor is in a call
  tab: "live", report: null,
};
window.acd = S;

const translate = L.follow(() => {
  render();
  if (S.report) drawReport();
  if (S.me && S.tab === "tickets") tickets.draw();
  if (S.me && S.tab === "admin") admin.draw();
});

const client = apiClient(() => S.token, () => loggedOut());
const api = client.request; // the response (a CSV, a recording's audio)
const act = actions(client.json, () => t("failed"));

// ---- log in and out ----
loginForm(t, async (token) => {
  S.token = token;
  S.ownLogin = true; // this page's own session (not the desktop's, in the same tab)
  await start();
});

$("logout").addEventListener("click", async () => {
  await phone.stop();
  await act("POST", "/auth/logout");
  loggedOut();
});

function loggedOut() {
  sessionStorage.removeItem("acd-token");
  Object.assign(S, { token: null, me: null, snap: null, monitor: null, epoch: null, seq: null, link: "down", report: null, ownLogin: false });
  stream.close();
  for (const timer of [refreshing, ticketsDue]) clearTimeout(timer);
  refreshing = ticketsDue = null;
  phone.stop();
  // Nothing of this user's is left for the next one on this browser.
  admin.forget(); // a phone secret shown once is not left on the screen
  for (const id of ["ticket-rows", "user-rows", "rec-rows", "alarms", "lines", "agents"]) $(id).replaceChildren();
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.hidden = true;
  for (const id of ["tabs", "logout", "link", "phone", ...TABS]) $(id).hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
}

async function start() {
  S.me = await client.json("GET", "/me");
  if (S.me.role === "agent") {
    $("login-error").textContent = t("not_supervisor");
    // A session of its own ends here; the desktop's (the same tab's) goes on.
    if (S.ownLogin) {
      await act("POST", "/auth/logout");
      sessionStorage.removeItem("acd-token");
    }
    S.token = null; S.me = null; S.ownLogin = false;
    $("login").hidden = false;
    return;
  }
  $("who").textContent = S.me.name ? `${S.me.name} (${S.me.job_number})` : S.me.job_number;
  $("login").hidden = true; $("tabs").hidden = false; $("logout").hidden = false;
  for (const b of document.querySelectorAll("#tabs button")) b.hidden = !mayOpen(b.dataset.tab);
  show(mayOpen(S.tab) ? S.tab : "live");
  stream.open();
  if (S.me.role === "supervisor") {
    // Listening in rings this phone; without it, the supervisor's desk phone rings.
    try {
      await phone.start(() => client.json("POST", "/me/web-phone", { page: "console" }));
    } catch (err) {
      S.phone = "down";
    }
  }
  render();
}

// ---- tabs ----
for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));

const TABS = ["live", "reports", "recordings", "tickets", "admin"];
// Admins look after users; team leads (and admins) work follow-up tickets.
const mayOpen = (tab) => tab !== "admin" || (S.me && S.me.role === "admin");

function show(tab) {
  S.tab = tab;
  for (const id of TABS) $(id).hidden = id !== tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  if (tab !== "admin") admin.forget();
  if (tab === "reports" && !S.report) loadReport();
  if (tab === "recordings") searchRecordings();
  if (tab === "tickets") tickets.load();
  if (tab === "admin") admin.load();
}

// ---- the phone in the page: rings when the supervisor asked to join a call ----
const phone = await pagePhone({
  audio: $("remote"),
  onChange: (p) => {
    Object.assign(S, { phone: p.state, session: p.session, remoteStream: p.remoteStream });
    const m = S.monitor;
    // The call the supervisor just asked for (its caller id is the agent's): take it.
    if (p.ringing && m && !m.answered && Date.now() < m.until && p.remoteUser === m.agent) {
      m.answered = true;
      const answering = phone.answer();
      if (answering) answering.catch((err) => { $("message").textContent = `${t("failed")}: ${err.message || err}`; });
    }
    if (!p.invitation && m && m.answered) S.monitor = null; // the supervisor's leg ended
    render();
  },
});

async function monitor(agent, mode) {
  const body = { mode };
  const inPage = phone.state === "registered";
  if (inPage) body.endpoint = phone.endpoint;
  const before = S.monitor;
  if (before && before.agent === agent && before.answered && phone.session) {
    // The same call switches mode in place.
    if (await act("POST", `/supervisor/agents/${encodeURIComponent(agent)}/monitor`, body)) before.mode = mode;
    render();
    return;
  }
  // Expect the call before asking for it: the phone may ring before the answer arrives.
  S.monitor = { agent, mode, answered: !inPage, until: Date.now() + 30000 };
  const done = await act("POST", `/supervisor/agents/${encodeURIComponent(agent)}/monitor`, body);
  if (!done) S.monitor = before;
  render();
}

$("stop-monitor").addEventListener("click", async () => {
  // acd hangs the supervisor's leg up; if it cannot, the page does.
  if (!(await act("DELETE", "/supervisor/monitor"))) phone.hangUp();
  if (!phone.invitation) S.monitor = null;
  render();
});

// ---- the live event stream: a snapshot, then changes; resumes where it left off ----
let refreshing = null, ticketsDue = null;
const stream = eventStream({
  from: () => ({ token: S.token, epoch: S.epoch, seq: S.seq }),
  onEvent: (ev) => onEvent(ev),
  onLink: (state) => { S.link = state; render(); },
  onEnded: () => loggedOut(), // the token ended: log in again
});

function onEvent(ev) {
  if (ev.kind === "snapshot") {
    S.epoch = ev.epoch; S.seq = ev.seq; S.link = "ok";
    setSnapshot(ev.data);
    return;
  }
  S.seq = ev.seq;
  // A ticket opened, taken, closed, chased or overdue: the list is drawn again.
  if (ev.kind.startsWith("follow_up_") && S.tab === "tickets" && !ticketsDue) {
    ticketsDue = setTimeout(() => { ticketsDue = null; tickets.load(); }, 250);
  }
  // Any change: fetch the whole picture again (a burst of events makes one request).
  if (!refreshing) refreshing = setTimeout(refresh, 250);
}

async function refresh() {
  try {
    const resp = await api("GET", "/supervisor/snapshot");
    setSnapshot(await resp.json());
  } catch (err) { /* the stream's next snapshot repairs it */ }
  refreshing = null;
}

function setSnapshot(snap) {
  S.snap = snap;
  S.skew = snap.at - Date.now() / 1000;
  render();
}

// Each second only the clocks move: rows and their buttons are rebuilt on changes only
// (a click must not fall between two rebuilds).
function tickClocks() {
  const now = Date.now() / 1000 + S.skew;
  for (const cell of document.querySelectorAll("#live [data-since]")) {
    cell.textContent = clock(now - Number(cell.dataset.since));
  }
}
setInterval(() => { if (S.snap && S.tab === "live") tickClocks(); }, 1000);

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

// ---- drawing the live view ----
function render() {
  if (!S.me) return;
  const link = $("link");
  link.hidden = false;
  link.textContent = S.link === "ok" ? t("link_ok") : t("link_reconnecting");
  link.className = `badge ${S.link === "ok" ? "ok" : "bad"}`;
  const badge = $("phone");
  badge.hidden = S.me.role !== "supervisor";
  badge.textContent = t(S.phone === "registered" ? "phone_registered" : S.phone === "down" ? "phone_down" : "phone_connecting");
  badge.className = `badge ${S.phone === "registered" ? "ok" : S.phone === "down" ? "" : "bad"}`;
  const m = S.monitor;
  const mode = m ? t(`mode_${m.mode}`) : "";
  $("monitoring").textContent = !m ? "" : t(m.answered ? "monitoring" : "ringing_you", { agent: m.agent, mode });
  $("stop-monitor").hidden = !m;
  const snap = S.snap;
  if (!snap) return;
  const today = snap.today || {};
  $("peak").textContent = String(snap.peak_level);
  $("answered").textContent = String(today.answered || 0);
  $("abandoned").textContent = String(today.abandoned || 0);
  $("sl").textContent = today.service_level != null ? `${Math.round(today.service_level)}%` : "–";
  const alarms = $("alarms");
  alarms.replaceChildren();
  for (const a of snap.alarms || []) {
    const li = document.createElement("li");
    const name = T.en[`alarm_${a.alarm}`] ? t(`alarm_${a.alarm}`) : a.alarm;
    li.textContent = `${t("alarm")}: ${name}${a.line ? ` (${lineName(a.line)})` : ""}`;
    alarms.append(li);
  }
  const lines = $("lines");
  lines.replaceChildren();
  for (const [name, l] of Object.entries(snap.lines || {})) {
    const row = lines.insertRow();
    row.dataset.line = name;
    row.insertCell().textContent = lineName(name);
    row.insertCell().textContent = String(l.waiting);
    const longest = row.insertCell();
    longest.textContent = "–";
    if (l.waiting) longest.dataset.since = String(snap.at - l.longest_wait);
  }
  const agents = $("agents");
  agents.replaceChildren();
  const supervising = S.me.role === "supervisor";
  for (const a of snap.agents || []) {
    if (a.job_number === S.me.job_number) continue;
    const row = agents.insertRow();
    row.dataset.agent = a.job_number;
    row.dataset.state = a.state;
    row.insertCell().textContent = a.name ? `${a.name} (${a.job_number})` : a.job_number;
    row.insertCell().textContent = t(`st_${a.state}`);
    row.insertCell().textContent = a.reason ? t(`reason_${a.reason}`) : "";
    const inState = row.insertCell();
    if (a.since && a.state !== "logged_out") inState.dataset.since = String(a.since);
    const cell = row.insertCell();
    cell.className = "buttons";
    // A supervisor sets the state of an agent who is not on a call (audited).
    const path = (what) => `/agents/${encodeURIComponent(a.job_number)}/${what}`;
    if (a.state === "logged_out") {
      cell.append(button(t("force_login"), () => act("POST", path("login")), "force-login"));
    } else if (a.state !== "talking" && a.state !== "ringing") {
      if (a.state !== "ready") cell.append(button(t("force_ready"), () => act("POST", path("ready")), "force-ready"));
      if (a.state === "ready") {
        cell.append(button(t("force_not_ready"), () => act("POST", path("not-ready"), { reason: "other" }), "force-not-ready"));
      }
      cell.append(button(t("force_logout"), () => act("POST", path("logout")), "force-logout"));
    }
    if (supervising && a.state === "talking") {
      for (const mode of ["listen", "whisper", "barge"]) {
        cell.append(button(t(mode), () => monitor(a.job_number, mode), `monitor-${mode}`));
      }
      if (a.call_id) {
        cell.append(button(t("end_call"), () => act("POST", `/supervisor/calls/${encodeURIComponent(a.call_id)}/hangup`), "end-call danger"));
      }
    }
  }
  tickClocks();
}

// ---- reports ----
$("report-show").addEventListener("click", () => loadReport());
$("csv-lines").addEventListener("click", () => downloadCsv("lines"));
$("csv-agents").addEventListener("click", () => downloadCsv("agents"));

function reportPath(extra) {
  const date = $("report-date").value;
  const query = new URLSearchParams(date ? { date, ...extra } : extra);
  return `/reports/${$("period").value}?${query}`;
}

async function loadReport() {
  try {
    S.report = await client.json("GET", reportPath({}));
    $("message").textContent = "";
  } catch (err) {
    $("message").textContent = `${t("failed")}: ${err.message}`;
    return;
  }
  drawReport();
}

async function downloadCsv(rows) {
  try {
    const resp = await api("GET", reportPath({ format: "csv", rows }));
    const name = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
    save(await resp.blob(), name ? name[1] : `acd-${rows}.csv`);
  } catch (err) {
    $("message").textContent = `${t("failed")}: ${err.message}`;
  }
}

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

const charts = {};

function chart(id, type, labels, datasets) {
  if (!window.Chart) { // the library is not installed: the figures are in the CSV
    $("message").textContent = t("no_charts");
    return;
  }
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart($(id), {
    type,
    data: { labels, datasets },
    options: { animation: false, responsive: true, plugins: { legend: { position: "bottom" } } },
  });
}

function drawReport() {
  const r = S.report;
  $("report-label").textContent = r.label;
  const rows = [...r.lines, { line: "total", ...r.total }];
  const labels = rows.map((l) => (l.line === "total" ? t("total") : lineName(l.line)));
  const pick = (key) => rows.map((l) => l[key] || 0);
  chart("chart-traffic", "bar", labels, [
    { label: t("offered"), data: pick("offered"), backgroundColor: "#5b6475" },
    { label: t("answered"), data: pick("answered"), backgroundColor: "#2e7d32" },
    { label: t("abandoned"), data: pick("abandoned"), backgroundColor: "#c62828" },
  ]);
  chart("chart-service", "bar", labels, [
    { label: t("sl_pct"), data: pick("service_level_pct"), backgroundColor: "#3949ab" },
    { label: t("asa"), data: pick("average_speed_of_answer_s"), backgroundColor: "#e65100" },
    { label: t("aht"), data: pick("average_handle_time_s"), backgroundColor: "#00838f" },
  ]);
  const dist = r.total.survey_distribution || {};
  chart("chart-satisfaction", "bar", ["1", "2", "3", "4", "5"], [
    { label: t("ratings"), data: ["1", "2", "3", "4", "5"].map((k) => dist[k] || 0), backgroundColor: "#f9a825" },
  ]);
  chart("chart-agents", "bar", r.agents.map((a) => a.agent), [
    { label: t("answered"), data: r.agents.map((a) => a.answered), backgroundColor: "#2e7d32" },
    { label: t("aht"), data: r.agents.map((a) => a.average_handle_time_s || 0), backgroundColor: "#00838f" },
  ]);
}

// ---- recordings ----
$("rec-search").addEventListener("click", () => searchRecordings());

async function searchRecordings() {
  const query = new URLSearchParams();
  for (const [key, id] of [["date", "rec-date"], ["agent", "rec-agent"], ["line", "rec-line"], ["caller", "rec-caller"]]) {
    const value = $(id).value.trim();
    if (value) query.set(key, value);
  }
  const rows = await act("GET", `/recordings?${query}`);
  if (!rows) return;
  S.recordings = rows;
  const body = $("rec-rows");
  body.replaceChildren();
  if (!rows.length) body.insertRow().insertCell().textContent = t("no_recordings");
  for (const r of rows) {
    const row = body.insertRow();
    row.dataset.call = r.call_id;
    row.insertCell().textContent = new Date(r.started_at * 1000).toLocaleTimeString(L.locale());
    row.insertCell().textContent = r.agent || "";
    row.insertCell().textContent = lineName(r.line);
    row.insertCell().textContent = r.caller || "";
    row.insertCell().textContent = r.duration_s != null ? clock(r.duration_s) : "";
    const cell = row.insertCell();
    cell.className = "buttons";
    if (r.audio) {
      cell.append(button(t("play"), () => play(r), "play"));
      cell.append(button(t("download"), () => download(r), "download"));
    }
  }
}

const when = (epoch) => new Date(epoch * 1000).toLocaleString(L.locale());
const tickets = ticketsTab({
  $, act, t: (k, v) => t(k, v), lineName: (l) => lineName(l), time: when,
  play: (r) => { show("recordings"); play(r); }, me: () => S.me && S.me.job_number,
});
const admin = adminTab({ $, act, t: (k, v) => t(k, v), lineName: (l) => lineName(l) });

async function play(r) {
  try {
    const blob = await (await api("GET", `/recordings/${encodeURIComponent(r.call_id)}/audio`)).blob();
    const player = $("player");
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
    player.dataset.call = r.call_id;
    await player.play().catch(() => {});
  } catch (err) {
    $("message").textContent = `${t("failed")}: ${err.message}`;
  }
}

async function download(r) {
  try {
    const resp = await api("GET", `/recordings/${encodeURIComponent(r.call_id)}/audio?download=true`);
    save(await resp.blob(), `${r.call_id}.wav`);
  } catch (err) {
    $("message").textContent = `${t("failed")}: ${err.message}`;
  }
}

translate();
if (S.token) start().catch(() => loggedOut()); else { $("login").hidden = false; }
