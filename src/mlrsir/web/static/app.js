// mlrsir web page: query by upload / drag-and-drop / random archive image, show ranked results.
// Plain JavaScript, no dependencies; everything comes from this server's /api.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"), dropzone: $("dropzone"), fileInput: $("file-input"), uploadHint: $("upload-hint"),
    randomBtn: $("random-btn"), queryCard: $("query-card"), queryImg: $("query-img"),
    attentionImg: $("attention-img"), attentionMissing: $("attention-missing"), queryName: $("query-name"),
    queryLabels: $("query-labels"), queryCode: $("query-code"), k: $("k-input"), radius: $("radius-input"),
    labelFilter: $("label-filter"), clearFilter: $("clear-filter"), error: $("error"),
    errorText: $("error-text"), errorClose: $("error-close"), stats: $("stats"), loading: $("loading"),
    legend: $("legend"), empty: $("empty"), emptyTitle: $("empty-title"), emptyText: $("empty-text"), grid: $("grid"),
  };

  const state = {
    query: null,          // {file: File} or {itemId: number}
    selected: new Set(),  // label filter
    requestSeq: 0,
    objectUrl: null,
  };

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function errorMessage(payload, response) {
    if (payload && typeof payload.detail === "string") return payload.detail;
    if (payload && Array.isArray(payload.detail)) {
      return payload.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
    return `request failed (HTTP ${response.status} ${response.statusText})`;
  }

  async function getJSON(url, options) {
    const response = await fetch(url, options);
    let payload = null;
    try { payload = await response.json(); } catch (_) { payload = null; }
    if (!response.ok) throw new Error(errorMessage(payload, response));
    return payload;
  }

  function showError(message) {
    el.errorText.textContent = message;
    el.error.hidden = false;
  }
  function clearError() { el.error.hidden = true; el.errorText.textContent = ""; }

  function setLoading(on) {
    el.loading.hidden = !on;
    el.randomBtn.disabled = on;
    el.grid.classList.toggle("stale", on);
    document.body.setAttribute("aria-busy", on ? "true" : "false");
  }

  function showEmpty(title, text) {
    el.emptyTitle.textContent = title;
    el.emptyText.textContent = text;
    el.empty.hidden = false;
  }

  function formatBytes(n) {
    if (n >= 1048576) return `${+(n / 1048576).toFixed(1)} MB`;
    if (n >= 1024) return `${Math.round(n / 1024)} kB`;
    return `${n} bytes`;
  }

  // ---------------------------------------------------------------- startup
  async function loadStatus() {
    try {
      const h = await getJSON("/api/health");
      const model = [h.fingerprint.method, h.fingerprint.backbone].filter(Boolean).join(" · ");
      el.status.textContent = `${h.size.toLocaleString()} images · ${h.bits}-bit codes${model ? " · " + model : ""}`;
      el.status.title = JSON.stringify(h.fingerprint);
      el.uploadHint.textContent = `JPEG, PNG, TIFF… up to ${formatBytes(h.max_upload_bytes)}`;
    } catch (err) {
      el.status.textContent = "server unavailable";
      el.status.classList.add("error");
    }
  }

  async function loadLabels() {
    let data;
    try { data = await getJSON("/api/labels"); } catch (_) { return; }
    el.labelFilter.replaceChildren();
    if (!data.labels.length) {
      el.labelFilter.append(make("span", "hint", "This archive has no labels."));
      return;
    }
    for (const label of data.labels) {
      const chip = make("button", "chip");
      chip.type = "button";
      chip.dataset.label = label;
      chip.setAttribute("aria-pressed", "false");
      chip.append(make("span", "", label), make("span", "count", data.counts[label] ?? ""));
      chip.addEventListener("click", () => {
        const on = !state.selected.has(label);
        if (on) state.selected.add(label); else state.selected.delete(label);
        chip.setAttribute("aria-pressed", String(on));
        el.clearFilter.hidden = state.selected.size === 0;
        rerun();
      });
      el.labelFilter.append(chip);
    }
  }

  // ---------------------------------------------------------------- queries
  function queryFromFile(file) {
    if (!file) return;
    state.query = { file };
    if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
    state.objectUrl = URL.createObjectURL(file);
    search();
  }

  async function queryRandom() {
    clearError();
    try {
      const { id } = await getJSON("/api/random");
      state.query = { itemId: id };
      search();
    } catch (err) {
      showError(err.message);
    }
  }

  function rerun() { if (state.query) search(); }

  async function search() {
    const seq = ++state.requestSeq;
    clearError();
    const form = new FormData();
    if (state.query.file) form.append("image", state.query.file, state.query.file.name);
    else form.append("item_id", String(state.query.itemId));
    const k = parseInt(el.k.value, 10);
    if (Number.isFinite(k)) form.append("k", String(Math.min(500, Math.max(1, k))));
    if (el.radius.value.trim() !== "") form.append("radius", el.radius.value.trim());
    for (const label of state.selected) form.append("labels", label);
    setLoading(true);
    try {
      const data = await getJSON("/api/search", { method: "POST", body: form });
      if (seq !== state.requestSeq) return;  // a newer query is running
      renderQuery(data);
      renderResults(data);
    } catch (err) {
      if (seq !== state.requestSeq) return;
      showError(err.message);
    } finally {
      if (seq === state.requestSeq) setLoading(false);
    }
  }

  // ---------------------------------------------------------------- rendering
  function renderQuery(data) {
    const q = data.query;
    el.queryCard.hidden = false;
    el.queryImg.hidden = false;
    el.queryImg.src = q.image_url || state.objectUrl || "";
    el.queryName.textContent = `${q.name} · ${q.width}×${q.height}`;
    if (data.attention_url) {
      el.attentionImg.src = data.attention_url;
      el.attentionImg.hidden = false;
      el.attentionMissing.hidden = true;
    } else {
      el.attentionImg.hidden = true;
      el.attentionMissing.hidden = false;
      el.attentionMissing.textContent = data.attention_error || "no attention map";
    }
    el.queryLabels.replaceChildren();
    if (q.labels && q.labels.length) {
      for (const label of q.labels) el.queryLabels.append(make("span", "chip query", label));
    } else if (q.source === "upload") {
      el.queryLabels.append(make("span", "hint", "Uploaded image: labels unknown, so precision is not shown."));
    }
    el.queryCode.textContent = q.code;
  }

  function stat(label, value, extraClass) {
    const node = make("span", "stat" + (extraClass ? " " + extraClass : ""));
    node.append(make("span", "", label + " "), make("strong", "", value));
    return node;
  }

  function renderResults(data) {
    el.grid.replaceChildren();
    el.stats.replaceChildren();
    const results = data.results;
    el.stats.append(stat("results", results.length));
    if (data.precision !== null && data.precision !== undefined) {
      const p = stat("precision", `${(100 * data.precision).toFixed(1)} %`, "precision");
      p.title = `${data.num_relevant} of ${results.length} results share at least one label with the query`;
      el.stats.append(p);
    }
    el.stats.append(stat("time", `${Math.round(data.timing_ms.total_ms)} ms`));
    el.legend.hidden = data.precision === null || data.precision === undefined || !results.length;

    if (!results.length) {
      const p = data.params;
      if (p.radius !== null && p.radius !== undefined) {
        showEmpty(`No results within radius ${p.radius}`,
          "No indexed image has a code within this Hamming distance of the query" +
          (p.labels.length ? " and all the selected labels" : "") + ". Increase or clear the radius.");
      } else if (p.labels.length) {
        showEmpty("No images carry all selected labels", "Remove some labels from the filter.");
      } else {
        showEmpty("No results", "The index returned nothing for this query.");
      }
      return;
    }
    el.empty.hidden = true;
    const fragment = document.createDocumentFragment();
    for (const r of results) fragment.append(resultCard(r));
    el.grid.append(fragment);
  }

  function resultCard(r) {
    const card = make("article", "result");
    if (r.relevant === true) card.classList.add("relevant");
    if (r.relevant === false) card.classList.add("irrelevant");
    card.dataset.id = r.id;

    const thumb = make("button", "thumb");
    thumb.type = "button";
    thumb.title = "Search with this image";
    const img = make("img");
    img.loading = "lazy";
    img.alt = r.path;
    img.src = r.thumbnail_url;
    thumb.append(img, make("span", "rank", `#${r.rank}`), make("span", "dist", `d = ${r.distance}`));
    thumb.querySelector(".dist").title = "Hamming distance to the query code";
    thumb.addEventListener("click", () => {
      state.query = { itemId: r.id };
      window.scrollTo({ top: 0, behavior: "smooth" });
      search();
    });

    const body = make("div", "result-body");
    const name = make("div", "result-name", r.path);
    name.title = r.path;
    body.append(name);
    const chips = make("div", "chips");
    const shared = new Set(r.shared_labels);
    for (const label of r.labels || []) {
      const chip = make("span", "chip" + (shared.has(label) ? " shared" : ""), label);
      if (shared.has(label)) chip.title = "shared with the query";
      chips.append(chip);
    }
    body.append(chips);
    card.append(thumb, body);
    return card;
  }

  // ---------------------------------------------------------------- events
  el.fileInput.addEventListener("change", () => {
    queryFromFile(el.fileInput.files[0]);
    el.fileInput.value = "";  // choosing the same file again fires change again
  });
  el.dropzone.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); el.fileInput.click(); }
  });
  for (const type of ["dragenter", "dragover"]) {
    el.dropzone.addEventListener(type, (ev) => { ev.preventDefault(); el.dropzone.classList.add("dragover"); });
  }
  for (const type of ["dragleave", "drop"]) {
    el.dropzone.addEventListener(type, () => el.dropzone.classList.remove("dragover"));
  }
  el.dropzone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) queryFromFile(file);
  });
  // a file dropped elsewhere must not navigate away from the page
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());

  el.randomBtn.addEventListener("click", queryRandom);
  el.k.addEventListener("change", rerun);
  el.radius.addEventListener("change", rerun);
  el.clearFilter.addEventListener("click", () => {
    state.selected.clear();
    for (const chip of el.labelFilter.querySelectorAll(".chip")) chip.setAttribute("aria-pressed", "false");
    el.clearFilter.hidden = true;
    rerun();
  });
  el.errorClose.addEventListener("click", clearError);
  el.queryImg.addEventListener("error", () => { el.queryImg.hidden = true; });  // e.g. a TIFF upload

  loadStatus();
  loadLabels();
})();
