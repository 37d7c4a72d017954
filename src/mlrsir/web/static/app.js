// mlrsir web page: query by upload / drag-and-drop / random archive image / place, show ranked
// results; mark results ✓/✗ and "find all like these" (POST /api/like-these, rounds of marks
// refine it); "where is the match" heat maps of hits (GET /api/items/{id}/match) on the card
// and on the map; box, time and cloud filters of scene tiles.
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
    atForm: $("at-form"), mapCard: $("map-card"), map: $("map"), atLon: $("at-lon"), atLat: $("at-lat"), scenes: $("scenes"),
    geoFilters: $("geo-filters"), after: $("after-input"), before: $("before-input"), maxCloud: $("cloud-input"),
    cloudRow: $("cloud-row"), bboxText: $("bbox-text"), bboxClear: $("bbox-clear"), likeBar: $("like-bar"),
    likeBtn: $("like-btn"), likeClear: $("like-clear"), likeStatus: $("like-status"),
  };

  const state = {
    query: null,          // {file: File}, {itemId: number} or {at: [lon, lat]}
    selected: new Set(),  // label filter
    requestSeq: 0,
    objectUrl: null,
    marks: new Map(),     // find all like these: id -> true (✓) | false (✗), kept across rounds
    round: 0,             // rounds of find all like these run with the current marks
    bbox: null,           // [w, s, e, n] drawn on the map (shift-drag)
    byId: new Map(),      // the shown results by id (the map's hit popups)
    queryItem: null,      // id of the indexed query item (match heat maps need one)
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
      el.atForm.hidden = !h.georeferenced; // a place search needs georeferenced items
      if (h.georeferenced) loadFilters();
      if (h.georeferenced && window.mlrsirMap) {
        window.mlrsirMap.init(el.map, el.mapCard, {
          onClick: searchAt, onHit: searchItem, onBox: setBbox, lookup: (id) => state.byId.get(id), basemap: h.basemap,
        });
      }
    } catch (err) {
      el.status.textContent = "server unavailable";
      el.status.classList.add("error");
    }
  }

  // The time and cloud controls, bounded by the stored acquisition times and cloud fractions.
  async function loadFilters() {
    let data;
    try { data = await getJSON("/api/scenes"); } catch (_) { return; }
    const f = data.filters || {};
    if (f.datetime) {
      for (const input of [el.after, el.before]) {
        input.min = f.datetime[0].slice(0, 10);
        input.max = f.datetime[1].slice(0, 10);
      }
      el.after.title = el.before.title = `tiles acquired ${f.datetime[0]} .. ${f.datetime[1]}`;
    }
    el.cloudRow.hidden = !f.cloud;
    if (f.cloud) el.maxCloud.title = `stored cloud fractions ${(100 * f.cloud[0]).toFixed(1)} .. ${(100 * f.cloud[1]).toFixed(1)} % (${f.cloud_known} tiles)`;
    el.geoFilters.hidden = false;
  }

  // The place / time / cloud filters as request fields ({} when none is set).
  function filterFields() {
    const out = {};
    if (state.bbox) out.bbox = state.bbox;
    if (el.after.value) out.after = el.after.value;
    if (el.before.value) out.before = el.before.value;
    const cloud = parseFloat(el.maxCloud.value);
    if (!el.cloudRow.hidden && Number.isFinite(cloud)) out.max_cloud = Math.min(1, Math.max(0, cloud / 100));
    return out;
  }

  function setBbox(bbox) {
    state.bbox = bbox;
    el.bboxText.textContent = bbox ? bbox.map((v) => v.toFixed(4)).join(", ") : "none (shift-drag on the map)";
    el.bboxClear.hidden = !bbox;
    if (window.mlrsirMap) window.mlrsirMap.showBox(bbox);
    rerun();
  }

  async function loadLabels() {
    let data;
    try { data = await getJSON("/api/labels"); } catch (_) { return; }
    el.labelFilter.replaceChildren();
    if (!data.labels.length) {
      el.labelFilter.append(make("span", "hint", "This archive has no labels, so label search is not available: index it with --labels FILE, or with a run trained with labels."));
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

  function rerun() {
    if (state.query && state.query.like) likeThese();
    else if (state.query) search();
  }

  async function search() {
    const seq = ++state.requestSeq;
    clearError();
    const form = new FormData();
    if (state.query.file) form.append("image", state.query.file, state.query.file.name);
    else if (state.query.at) form.append("at", state.query.at.join(","));
    else form.append("item_id", String(state.query.itemId));
    const k = parseInt(el.k.value, 10);
    if (Number.isFinite(k)) form.append("k", String(Math.min(500, Math.max(1, k))));
    if (el.radius.value.trim() !== "") form.append("radius", el.radius.value.trim());
    for (const label of state.selected) form.append("labels", label);
    for (const [key, value] of Object.entries(filterFields())) form.append(key, Array.isArray(value) ? value.join(",") : String(value));
    setLoading(true);
    try {
      const data = await getJSON("/api/search", { method: "POST", body: form });
      if (seq !== state.requestSeq) return;  // a newer query is running
      state.queryItem = data.query.item_id ?? null;
      renderQuery(data);
      renderResults(data);
      loadAttention(data, seq);  // after the results are shown: the search itself stays fast
    } catch (err) {
      if (seq !== state.requestSeq) return;
      showError(err.message);
    } finally {
      if (seq === state.requestSeq) setLoading(false);
    }
  }

  // ---------------------------------------------------------------- find all like these
  function markedIds(value) { return [...state.marks].filter(([, v]) => v === value).map(([id]) => id); }

  function updateLikeBar() {
    const pos = markedIds(true).length, neg = markedIds(false).length;
    el.likeBtn.disabled = pos === 0;
    el.likeBtn.textContent = `Find all like these (${pos} ✓, ${neg} ✗)`;
    el.likeClear.hidden = state.marks.size === 0;
    el.likeStatus.textContent = state.round ? `round ${state.round} · marked items are left out of the results` : "";
  }

  // Rank the whole index by a classifier fitted to the marks (POST /api/like-these).
  async function likeThese() {
    const seq = ++state.requestSeq;
    clearError();
    const k = parseInt(el.k.value, 10);
    const body = {
      positives: markedIds(true), negatives: markedIds(false),
      k: Number.isFinite(k) ? Math.min(500, Math.max(1, k)) : 24, labels: [...state.selected], ...filterFields(),
    };
    setLoading(true);
    try {
      const data = await getJSON("/api/like-these", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (seq !== state.requestSeq) return;
      state.query = { like: true };
      state.queryItem = null;
      state.round += 1;
      el.queryCard.hidden = true;
      renderResults({ ...data, query: null, precision: null });
      updateLikeBar();
    } catch (err) {
      if (seq === state.requestSeq) showError(err.message);
    } finally {
      if (seq === state.requestSeq) setLoading(false);
    }
  }

  function markButtons(r, card) {
    const box = make("div", "marks");
    for (const [text, value, title] of [["✓", true, "like the wanted ones"], ["✗", false, "not like them"]]) {
      const b = make("button", "mark " + (value ? "pos" : "neg"), text);
      b.type = "button";
      b.title = `mark ${title} (find all like these)`;
      b.setAttribute("aria-pressed", String(state.marks.get(r.id) === value));
      b.addEventListener("click", () => {
        if (state.marks.get(r.id) === value) state.marks.delete(r.id); else state.marks.set(r.id, value);
        for (const other of box.querySelectorAll(".mark")) {
          other.setAttribute("aria-pressed", String(state.marks.get(r.id) === other.classList.contains("pos")));
        }
        card.classList.toggle("marked-pos", state.marks.get(r.id) === true);
        card.classList.toggle("marked-neg", state.marks.get(r.id) === false);
        updateLikeBar();
      });
      box.append(b);
    }
    return box;
  }

  // ---------------------------------------------------------------- where is the match
  // A grid x grid map in [0, 1] as a canvas (one pixel per cell, transparent where 0).
  function heatCanvas(grid) {
    const n = grid.length;
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = n;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const v = Math.max(0, Math.min(1, grid[i][j])), o = 4 * (i * n + j);
      image.data[o] = 255; image.data[o + 1] = Math.round(220 * (1 - v)); image.data[o + 2] = 0;
      image.data[o + 3] = Math.round(170 * v);
    }
    ctx.putImageData(image, 0, 0);
    return canvas;
  }

  async function showMatch(r, card, button) {
    if (state.queryItem === null) return;
    button.disabled = true;
    button.textContent = "…";
    try {
      const data = await getJSON(`/api/items/${r.id}/match?query_id=${state.queryItem}`);
      const overlay = heatCanvas(data.map);
      overlay.className = "match-overlay";
      overlay.title = `occlusion map: red = hiding this part lowers the similarity most (${data.forward_passes} model passes, ${Math.round(data.ms)} ms)`;
      const thumb = card.querySelector(".thumb");
      const old = thumb.querySelector(".match-overlay");
      if (old) old.remove();
      thumb.append(overlay);
      card.classList.add("has-match");
      if (r.geo && window.mlrsirMap) window.mlrsirMap.showMatch(r.geo.lonlat_bounds, heatCanvas(data.map));
      button.textContent = "where? ✓";
    } catch (err) {
      showError(err.message);
      button.textContent = "where?";
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- rendering
  function renderQuery(data) {
    const q = data.query;
    el.queryCard.hidden = false;
    el.queryImg.hidden = false;
    el.queryImg.src = q.image_url || state.objectUrl || "";
    el.queryName.textContent = `${q.name} · ${q.width}×${q.height}` + (q.geo ? ` · ${lonLatText(q.geo)}` : "");
    showAttention(data.attention_url, data.attention_url ? null : "computing the attention map…");
    el.queryLabels.replaceChildren();
    if (q.labels && q.labels.length) {
      for (const label of q.labels) el.queryLabels.append(make("span", "chip query", label));
    } else if (q.source === "upload") {
      el.queryLabels.append(make("span", "hint", "Uploaded image: labels unknown, so precision is not shown."));
    }
    el.queryCode.textContent = q.code;
  }

  function showAttention(src, message) {
    if (state.attentionUrl && state.attentionUrl !== src) URL.revokeObjectURL(state.attentionUrl);
    state.attentionUrl = src && src.startsWith("blob:") ? src : null;
    el.attentionImg.hidden = !src;
    el.attentionMissing.hidden = !!src;
    if (src) el.attentionImg.src = src;
    else el.attentionMissing.textContent = message || "no attention map";
  }

  // The CBAM attention map: its own request (GET for indexed items, POST for uploads).
  async function loadAttention(data, seq) {
    if (data.attention_url) return;
    const q = data.query;
    let request;
    if (q.item_id !== null && q.item_id !== undefined) request = fetch(`/api/items/${q.item_id}/attention`);
    else if (state.query && state.query.file) {
      const form = new FormData();
      form.append("image", state.query.file, state.query.file.name);
      request = fetch("/api/attention", { method: "POST", body: form });
    } else {
      showAttention(null, "no attention map");
      return;
    }
    try {
      const response = await request;
      if (seq !== state.requestSeq) return;
      if (!response.ok) {
        let message = `no attention map (HTTP ${response.status})`;
        try { message = (await response.json()).detail || message; } catch (_e) { /* not JSON */ }
        showAttention(null, message);
        return;
      }
      const blob = await response.blob();
      if (seq !== state.requestSeq) return;
      showAttention(URL.createObjectURL(blob));
    } catch (err) {
      if (seq === state.requestSeq) showAttention(null, `no attention map (${err.message})`);
    }
  }

  function stat(label, value, extraClass) {
    const node = make("span", "stat" + (extraClass ? " " + extraClass : ""));
    node.append(make("span", "", label + " "), make("strong", "", value));
    return node;
  }

  // ---------------------------------------------------------------- scenes and footprints
  function lonLatText(geo) {
    const b = geo.lonlat_bounds;
    const lon = (b[0] + b[2]) / 2, lat = (b[1] + b[3]) / 2;
    return `${Math.abs(lat).toFixed(4)}°${lat >= 0 ? "N" : "S"} ${Math.abs(lon).toFixed(4)}°${lon >= 0 ? "E" : "W"}`;
  }

  // A quick-look of the scene with footprint boxes at pixel windows (percent of the scene size).
  function sceneFigure(scene, boxes, className) {
    const fig = make("div", className);
    const img = make("img");
    img.alt = `quick-look of scene ${scene.id}`;
    img.src = scene.quicklook_url;
    fig.append(img);
    for (const b of boxes) {
      const [c, r, w, h] = b.window;
      const box = make(b.onClick ? "button" : "span", "footprint" + (b.query ? " query" : ""), b.text || "");
      if (b.onClick) { box.type = "button"; box.addEventListener("click", b.onClick); }
      if (b.title) box.title = b.title;
      box.style.left = `${(100 * c) / scene.width}%`;
      box.style.top = `${(100 * r) / scene.height}%`;
      box.style.width = `${(100 * w) / scene.width}%`;
      box.style.height = `${(100 * h) / scene.height}%`;
      fig.append(box);
    }
    return fig;
  }

  function searchAt(lon, lat) {
    el.atLon.value = lon.toFixed(6);
    el.atLat.value = lat.toFixed(6);
    state.query = { at: [lon, lat] };
    search();
  }

  function searchItem(id) {
    state.query = { itemId: id };
    window.scrollTo({ top: 0, behavior: "smooth" });
    search();
  }

  function renderScenes(data) {
    el.scenes.replaceChildren();
    const byScene = new Map();
    for (const r of data.results) {
      if (!r.geo || !r.scene) continue;
      if (!byScene.has(r.scene.id)) byScene.set(r.scene.id, { scene: r.scene, boxes: [] });
      byScene.get(r.scene.id).boxes.push({
        window: r.geo.window, text: String(r.rank), title: `#${r.rank} · d = ${r.distance} · ${lonLatText(r.geo)}`,
        onClick: () => searchItem(r.id),
      });
    }
    const q = data.query;
    if (q && q.geo && byScene.has(q.geo.scene)) {
      byScene.get(q.geo.scene).boxes.unshift({ window: q.geo.window, query: true, title: "query tile" });
    }
    for (const { scene, boxes } of byScene.values()) {
      const card = make("section", "scene-card");
      card.append(make("h3", "", `Scene ${scene.name || scene.id}`),
        make("p", "hint", `${boxes.filter((b) => !b.query).length} hits; numbers are ranks, the dashed box is the query. Click a box to search from it.`),
        sceneFigure(scene, boxes, "scene-figure"));
      el.scenes.append(card);
    }
    el.scenes.hidden = byScene.size === 0;
  }

  function renderResults(data) {
    renderScenes(data);
    state.byId = new Map(data.results.map((r) => [r.id, r]));
    if (window.mlrsirMap) window.mlrsirMap.showHits(data.results);
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
      } else if (p.labels && p.labels.length) {
        showEmpty("No images carry all selected labels", "Remove some labels from the filter.");
      } else if (p.bbox || p.after || p.before || (p.max_cloud !== null && p.max_cloud !== undefined)) {
        showEmpty("No tiles pass the box, time and cloud filters", "Clear the box or widen the dates or the cloud limit.");
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
    const liked = r.score !== undefined && r.score !== null;
    thumb.append(img, make("span", "rank", `#${r.rank}`), make("span", "dist", liked ? `s = ${r.score.toFixed(2)}` : `d = ${r.distance}`));
    thumb.querySelector(".dist").title = liked ? "classifier score (higher: more like the ✓ items)" : "Hamming distance to the query code";
    thumb.addEventListener("click", () => searchItem(r.id));

    const body = make("div", "result-body");
    const name = make("div", "result-name", r.path);
    name.title = r.path;
    body.append(name);
    if (r.geo) {
      const where = make("div", "result-geo", lonLatText(r.geo));
      where.title = `${r.geo.crs} bounds ${r.geo.bounds.map((v) => v.toFixed(0)).join(", ")}` +
        (r.geo.datetime ? ` · acquired ${r.geo.datetime}` : "");
      body.append(where);
      if (r.scene) body.append(sceneFigure(r.scene, [{ window: r.geo.window }], "mini-scene"));
    }
    const chips = make("div", "chips");
    const shared = new Set(r.shared_labels);
    for (const label of r.labels || []) {
      const chip = make("span", "chip" + (shared.has(label) ? " shared" : ""), label);
      if (shared.has(label)) chip.title = "shared with the query";
      chips.append(chip);
    }
    body.append(chips);
    const actions = make("div", "result-actions");
    actions.append(markButtons(r, card));
    if (state.queryItem !== null && state.queryItem !== r.id) {
      const where = make("button", "link-btn where", "where?");
      where.type = "button";
      where.title = "where is the match: occlusion heat map of what makes this hit similar to the query";
      where.addEventListener("click", () => showMatch(r, card, where));
      actions.append(where);
    }
    body.append(actions);
    if (state.marks.has(r.id)) card.classList.add(state.marks.get(r.id) ? "marked-pos" : "marked-neg");
    if (r.geo) card.dataset.bounds = r.geo.lonlat_bounds.join(",");
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
  el.atForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const lon = parseFloat(el.atLon.value), lat = parseFloat(el.atLat.value);
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) {
      showError("Enter a longitude (-180..180) and a latitude (-90..90) in degrees.");
      return;
    }
    searchAt(lon, lat);
  });
  el.k.addEventListener("change", rerun);
  el.radius.addEventListener("change", rerun);
  el.clearFilter.addEventListener("click", () => {
    state.selected.clear();
    for (const chip of el.labelFilter.querySelectorAll(".chip")) chip.setAttribute("aria-pressed", "false");
    el.clearFilter.hidden = true;
    rerun();
  });
  el.errorClose.addEventListener("click", clearError);
  el.likeBtn.addEventListener("click", likeThese);
  el.likeClear.addEventListener("click", () => {
    state.marks.clear();
    state.round = 0;
    for (const card of el.grid.querySelectorAll(".result")) card.classList.remove("marked-pos", "marked-neg");
    for (const b of el.grid.querySelectorAll(".mark")) b.setAttribute("aria-pressed", "false");
    updateLikeBar();
  });
  el.bboxClear.addEventListener("click", () => setBbox(null));
  for (const input of [el.after, el.before, el.maxCloud]) input.addEventListener("change", rerun);
  el.queryImg.addEventListener("error", () => { el.queryImg.hidden = true; });  // e.g. a TIFF upload

  loadStatus();
  loadLabels();
})();
