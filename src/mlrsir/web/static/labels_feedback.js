// Issue 16: search by labels and relevance feedback (POST /api/search/labels, /api/search/feedback).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const marks = new Map(); // id -> true (relevant) | false (not relevant)
  let start = {}; // {item_id} or {query_code}

  function status(text) { $("lf-status").textContent = text; }

  function render(rows, note) {
    const box = $("lf-results");
    box.textContent = "";
    const empty = $("empty");
    if (empty) empty.hidden = true;
    for (const row of rows) {
      const card = document.createElement("figure");
      card.className = "result";
      const img = document.createElement("img");
      img.src = row.thumbnail_url; img.alt = row.path; img.loading = "lazy";
      const cap = document.createElement("figcaption");
      const score = row.score !== undefined ? `score ${row.score} (${row.label_source})` : `distance ${row.distance}`;
      const labels = row.labels || row.predicted_labels || [];
      cap.textContent = `#${row.rank} id ${row.id} · ${score} · ${labels.join(", ") || "-"}`;
      for (const [text, value] of [["✓", true], ["✗", false]]) {
        const b = document.createElement("button");
        b.type = "button"; b.textContent = text; b.className = "link-btn";
        b.setAttribute("aria-pressed", String(marks.get(row.id) === value));
        b.addEventListener("click", () => {
          if (marks.get(row.id) === value) marks.delete(row.id); else marks.set(row.id, value);
          render(rows, note);
        });
        cap.appendChild(b);
      }
      card.append(img, cap);
      box.appendChild(card);
    }
    $("lf-refine").disabled = ![...marks.values()].some((v) => v) && start.item_id === undefined && !start.query_code;
    status(`${rows.length} results${note ? " · " + note : ""} · ${marks.size} marked`);
  }

  async function post(url, body) {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || r.statusText);
    return data;
  }

  async function search(event) {
    event.preventDefault();
    marks.clear(); start = {};
    const k = Number(($("k-input") || {}).value) || 24;
    const labels = $("lf-labels").value.split(",").map((s) => s.trim()).filter(Boolean);
    const item = $("lf-item").value;
    try {
      if (item !== "") {
        start = { item_id: Number(item) };
        const data = await post("/api/search/feedback", { item_id: Number(item), k, labels });
        start = { query_code: data.query_code };
        render(data.results, data.label_filter_source ? `label filter: ${data.label_filter_source}` : "");
      } else {
        const data = await post("/api/search/labels", { labels_query: labels, mode: $("lf-mode").value, k });
        render(data.results, "ranked by label scores");
      }
    } catch (err) { status(String(err.message || err)); }
  }

  async function refine() {
    const k = Number(($("k-input") || {}).value) || 24;
    const relevant = [...marks].filter(([, v]) => v).map(([id]) => id);
    const nonrelevant = [...marks].filter(([, v]) => !v).map(([id]) => id);
    try {
      const data = await post("/api/search/feedback", { ...start, relevant, nonrelevant, k });
      start = { query_code: data.query_code };
      render(data.results, "after feedback");
    } catch (err) { status(String(err.message || err)); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("lf-form")) return;
    $("lf-form").addEventListener("submit", search);
    $("lf-refine").addEventListener("click", refine);
  });
})();
