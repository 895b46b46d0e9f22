// The console's follow-up tickets: open ones first (overdue on top), take one, close it
// with what was done, hear the call. Redrawn when the event stream says a ticket changed.
// Every value is set as text. The strings are the console's (console.js).

export function ticketsTab({ $, act, t, lineName, time, play, me }) {
  let rows = [];

  async function load() {
    const status = $("ticket-status").value;
    const found = await act("GET", `/follow-ups?status=${encodeURIComponent(status)}`, undefined, { quiet: true });
    if (!found) return;
    rows = found;
    draw();
  }

  function what(ticket) {
    const d = ticket.details || {};
    if (ticket.reason === "low_score") return `${t("tk_low_score")} ${d.score ?? ""}`.trim();
    const parts = [d.category ? t(`cat_${d.category}`) : t("tk_registration")];
    if (d.notes) parts.push(d.notes);
    return parts.join(": ");
  }

  function draw() {
    const body = $("ticket-rows");
    body.replaceChildren();
    if (!rows.length) body.insertRow().insertCell().textContent = t("tk_none");
    // Open ones first, the overdue on top, then the soonest due.
    const closed = (x) => Boolean(x.closed_at);
    const sorted = [...rows].sort(
      (a, b) => (closed(a) - closed(b)) || (b.overdue - a.overdue) || (a.due_at - b.due_at),
    );
    for (const ticket of sorted) {
      const row = body.insertRow();
      row.dataset.ticket = String(ticket.id);
      row.dataset.call = ticket.call_id;
      row.classList.toggle("overdue", Boolean(ticket.overdue));
      row.insertCell().textContent = time(ticket.opened_at);
      const due = row.insertCell();
      due.textContent = ticket.overdue ? `${time(ticket.due_at)} (${t("tk_overdue")})` : time(ticket.due_at);
      row.insertCell().textContent = t(`urg_${ticket.urgency}`);
      row.insertCell().textContent = what(ticket);
      row.insertCell().textContent = lineName(ticket.line || "");
      row.insertCell().textContent = ticket.agent || "";
      row.insertCell().textContent = ticket.caller || "";
      row.insertCell().textContent = ticket.closed_at
        ? `${t("tk_closed")}: ${ticket.outcome || ""}`
        : ticket.taken_by ? `${t("tk_taken_by")} ${ticket.taken_by}` : t("tk_open");
      const cell = row.insertCell();
      cell.className = "buttons";
      if (!ticket.closed_at && !ticket.taken_by) {
        cell.append(button(t("tk_take"), async () => { if (await act("POST", `/follow-ups/${ticket.id}/take`)) load(); }, "take"));
      }
      if (!ticket.closed_at && (!ticket.taken_by || ticket.taken_by === me())) {
        const outcome = document.createElement("input");
        outcome.className = "outcome";
        outcome.maxLength = 4000;
        outcome.placeholder = t("tk_outcome");
        cell.append(outcome);
        cell.append(button(t("tk_close"), async () => {
          const text = outcome.value.trim();
          if (!text) { outcome.focus(); return; }
          if (await act("POST", `/follow-ups/${ticket.id}/close`, { outcome: text })) load();
        }, "close"));
      }
      cell.append(button(t("play"), () => play({ call_id: ticket.call_id }), "play"));
    }
  }

  function button(label, onClick, cls) {
    const b = document.createElement("button");
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  $("ticket-status").addEventListener("change", load);
  return { load, draw };
}
