// The console's admin tab: users with their phones, skills per line, hot desks, a new
// phone secret (shown once, here only). Every value is set as text. The strings are
// the console's (console.js).

export function adminTab({ $, act, t, lineName }) {
  let users = [];
  let lines = [];
  let editing = null; // the job number whose skills and hot desks are open

  async function load() {
    const quiet = { quiet: true }; // a "saved" message stays
    const [found, known] = await Promise.all([
      act("GET", "/admin/users", undefined, quiet),
      act("GET", "/admin/lines", undefined, quiet),
    ]);
    if (!found || !known) return;
    users = found;
    lines = known;
    draw();
  }

  function showSecret(answer) {
    // Shown once: acd keeps only its digest. Cleared when the admin moves on.
    $("secret-shown").textContent = answer && answer.sip_secret
      ? t("ad_secret_once", { phone: answer.sip_endpoint, secret: answer.sip_secret })
      : "";
  }

  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const job = $("user-job").value.trim();
    const body = { name: $("user-name").value.trim(), role: $("user-role").value };
    // Left empty, a user's password stays as it is (a new user needs one).
    if ($("user-password").value) body.password = $("user-password").value;
    const answer = await act("PUT", `/admin/users/${encodeURIComponent(job)}`, body);
    if (!answer) return;
    $("user-form").reset();
    showSecret(answer);
    $("message").textContent = t("ad_saved", { job });
    load();
  });

  function skillsText(skills) {
    return Object.entries(skills || {}).map(([line, level]) => `${lineName(line)} ${level}`).join(", ");
  }

  function draw() {
    const body = $("user-rows");
    body.replaceChildren();
    for (const u of users) {
      const row = body.insertRow();
      row.dataset.user = u.job_number;
      row.insertCell().textContent = u.job_number;
      row.insertCell().textContent = u.name || "";
      row.insertCell().textContent = t(`role_${u.role}`);
      row.insertCell().textContent = u.team || "";
      row.insertCell().textContent = skillsText(u.skills);
      const desks = u.hot_desks && u.hot_desks.length ? ` + ${u.hot_desks.join(", ")}` : "";
      const secret = u.phone_kept ? (u.phone_secret_set ? "" : ` (${t("ad_no_secret")})`) : "";
      row.insertCell().textContent = u.phone ? `${u.phone}${secret}${desks}` : "";
      const cell = row.insertCell();
      cell.className = "buttons";
      cell.append(button(t("ad_edit"), () => edit(u), "edit"));
      if (u.skills) cell.append(button(t("ad_skills"), () => openSkills(u), "skills"));
      if (u.phone_kept) {
        cell.append(button(t("ad_new_secret"), async () => {
          showSecret(await act("POST", `/admin/users/${encodeURIComponent(u.job_number)}/phone`));
          load();
        }, "new-secret"));
      }
      const remove = button(t("ad_delete"), () => {
        // Two steps: the first click asks, the second deletes.
        if (remove.dataset.armed) {
          act("DELETE", `/admin/users/${encodeURIComponent(u.job_number)}`).then((done) => { if (done) load(); });
        } else {
          remove.dataset.armed = "1";
          remove.textContent = t("ad_delete_sure");
        }
      }, "delete danger");
      cell.append(remove);
    }
    drawSkills();
  }

  function edit(u) {
    $("user-job").value = u.job_number;
    $("user-name").value = u.name || "";
    $("user-role").value = u.role;
    $("user-password").focus();
  }

  function openSkills(u) {
    editing = u.job_number;
    drawSkills();
  }

  function drawSkills() {
    const u = users.find((x) => x.job_number === editing);
    $("skills-form").hidden = !u;
    if (!u) return;
    $("skills-who").textContent = u.name ? `${u.name} (${u.job_number})` : u.job_number;
    const box = $("skills-lines");
    box.replaceChildren();
    for (const line of lines) {
      const label = document.createElement("label");
      label.textContent = `${lineName(line)} `;
      const input = document.createElement("input");
      input.type = "number"; input.min = "0"; input.max = "10"; input.size = 3;
      input.dataset.line = line;
      input.value = String((u.skills || {})[line] || 0);
      label.append(input);
      box.append(label);
    }
    $("hot-desks").value = (u.hot_desks || []).join(", ");
  }

  $("skills-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const job = encodeURIComponent(editing);
    const skills = {};
    for (const input of $("skills-lines").querySelectorAll("input")) {
      const level = Number(input.value);
      if (level > 0) skills[input.dataset.line] = level; // 0: does not take that line
    }
    const phones = $("hot-desks").value.split(/[\s,]+/).filter(Boolean);
    if (!(await act("PUT", `/admin/agents/${job}/skills`, { skills }))) return;
    if (!(await act("PUT", `/admin/agents/${job}/phones`, { phones }))) return;
    $("message").textContent = t("ad_saved", { job: editing });
    load();
  });
  $("skills-cancel").addEventListener("click", () => { editing = null; drawSkills(); });

  function button(label, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  return { load, draw, forget: () => showSecret(null) };
}
