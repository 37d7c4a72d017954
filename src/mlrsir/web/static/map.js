// Map view of a georeferenced index (MapLibre GL JS, served from /static/vendor/).
// Layers, bottom to top: the basemap (`mlrsir serve --basemap URL`, when given), the scenes
// (GET /api/scenes) as XYZ raster layers (their tiles_url), the match heat map of one hit
// (a canvas source at the hit's footprint), scene footprints, the drawn box filter, the
// hits of the last search (outlined boxes with their rank as HTML markers; hovering one
// shows its popup: thumbnail, distance or score, labels, acquisition time, cloud).
// A click on a hit searches from it, a click elsewhere searches at that point, a
// shift-drag draws a box that becomes the search's bbox filter. Nothing is loaded
// unless the index is georeferenced (app.js calls mlrsirMap.init only then).
"use strict";

(function () {
  const VENDOR = "/static/vendor/";
  const EMPTY = { type: "FeatureCollection", features: [] };
  let map = null;
  let ready = null;
  let markers = [];
  let popup = null;
  let handlers = {};

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.append(s);
    });
  }

  function loadStyle(href) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.append(link);
  }

  function bboxOf(features) {
    let w = 180, s = 90, e = -180, n = -90;
    for (const f of features) {
      if (!f.geometry) continue;
      const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const poly of polys) for (const [lon, lat] of poly[0]) {
        w = Math.min(w, lon); e = Math.max(e, lon); s = Math.min(s, lat); n = Math.max(n, lat);
      }
    }
    return w <= e ? [[w, s], [e, n]] : null;
  }

  function boxPolygon([w, s, e, n]) {
    return { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
  }

  function hitFeatures(results) {
    const features = [];
    for (const r of results || []) {
      const b = r.geo && r.geo.lonlat_bounds;
      if (!b) continue;
      features.push({
        type: "Feature", id: r.id,
        properties: { rank: r.rank, id: r.id },
        geometry: boxPolygon(b),
      });
    }
    return { type: "FeatureCollection", features };
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // The popup of a hit: thumbnail, distance (or classifier score), labels, time, cloud.
  function popupContent(r) {
    const box = el("div", "hit-popup");
    const img = el("img");
    img.src = r.thumbnail_url;
    img.alt = r.path;
    box.append(img);
    const measure = r.score !== undefined && r.score !== null ? `score ${Number(r.score).toFixed(3)}` : `d = ${r.distance}`;
    box.append(el("div", "hit-popup-title", `#${r.rank} · ${measure}`));
    box.append(el("div", "", (r.labels && r.labels.length) ? r.labels.join(", ") : "labels unknown"));
    box.append(el("div", "", `acquired ${(r.geo && r.geo.datetime) || "unknown"}`));
    box.append(el("div", "", `cloud ${r.cloud === null || r.cloud === undefined ? "unknown" : (100 * r.cloud).toFixed(1) + " %"}`));
    box.append(el("div", "hint", "click: search from this tile"));
    return box;
  }

  // Shift-drag draws a box (MapLibre's own box zoom is off); its lon/lat bounds go to onBox.
  function enableBoxDrawing(container) {
    let start = null, frame = null, drew = false;
    const point = (ev) => {
      const r = container.getBoundingClientRect();
      return [ev.clientX - r.left, ev.clientY - r.top];
    };
    container.addEventListener("mousedown", (ev) => {
      if (!ev.shiftKey || ev.button !== 0) return;
      ev.stopPropagation();  // capture phase: MapLibre's pan never sees this drag
      ev.preventDefault();
      start = point(ev);
      frame = el("div", "box-draw");
      container.append(frame);
    }, true);
    window.addEventListener("mousemove", (ev) => {
      if (!start) return;
      const [x, y] = point(ev);
      Object.assign(frame.style, {
        left: `${Math.min(x, start[0])}px`, top: `${Math.min(y, start[1])}px`,
        width: `${Math.abs(x - start[0])}px`, height: `${Math.abs(y - start[1])}px`,
      });
    });
    window.addEventListener("mouseup", (ev) => {
      if (!start) return;
      const end = point(ev);
      frame.remove();
      const [x0, y0] = start;
      start = null;
      if (Math.abs(end[0] - x0) < 4 || Math.abs(end[1] - y0) < 4) return;  // a shift-click, not a box
      drew = true;
      const a = map.unproject([x0, y0]), b = map.unproject(end);
      const bbox = [Math.min(a.lng, b.lng), Math.min(a.lat, b.lat), Math.max(a.lng, b.lng), Math.max(a.lat, b.lat)];
      setBox(bbox);
      if (handlers.onBox) handlers.onBox(bbox);
    });
    container.addEventListener("click", (ev) => {
      if (drew) { drew = false; ev.stopPropagation(); }  // the click ending a drawn box searches nothing
    }, true);
  }

  function setBox(bbox) {
    if (map && map.getSource("bbox")) {
      map.getSource("bbox").setData(bbox ? { type: "Feature", properties: {}, geometry: boxPolygon(bbox) } : EMPTY);
    }
  }

  async function init(container, card, options) {
    handlers = options || {};
    loadStyle(VENDOR + "maplibre-gl.css");
    await loadScript(VENDOR + "maplibre-gl-csp.js");
    const maplibregl = window.maplibregl;
    maplibregl.setWorkerUrl(VENDOR + "maplibre-gl-csp-worker.js");
    const response = await fetch("/api/scenes");
    const scenes = await response.json();
    const sources = {}, layers = [{ id: "background", type: "background", paint: { "background-color": "#e8ecef" } }];
    if (handlers.basemap) {
      sources.basemap = { type: "raster", tileSize: 256, tiles: [handlers.basemap] };
      layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    for (const f of scenes.features) {
      if (!f.geometry) continue;
      const id = `scene-${f.properties.id}`;
      const box = bboxOf([f]);
      sources[id] = {
        type: "raster", tileSize: 256, maxzoom: 24,
        tiles: [window.location.origin + f.properties.tiles_url],
        bounds: box ? [box[0][0], box[0][1], box[1][0], box[1][1]] : undefined,
      };
      layers.push({ id, type: "raster", source: id });
    }
    sources.footprints = { type: "geojson", data: scenes };
    sources.hits = { type: "geojson", data: EMPTY };
    sources.bbox = { type: "geojson", data: EMPTY };
    layers.push({ id: "footprints", type: "line", source: "footprints", paint: { "line-color": "#1f6feb", "line-width": 1.5 } });
    layers.push({ id: "bbox", type: "line", source: "bbox", paint: { "line-color": "#7c3aed", "line-width": 2, "line-dasharray": [2, 1] } });
    layers.push({ id: "hits-fill", type: "fill", source: "hits", paint: { "fill-color": "#e5534b", "fill-opacity": 0.08 } });
    layers.push({ id: "hits", type: "line", source: "hits", paint: { "line-color": "#e5534b", "line-width": 2 } });
    card.hidden = false;
    map = new maplibregl.Map({
      container, style: { version: 8, sources, layers },
      attributionControl: false, dragRotate: false, boxZoom: false,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    const box = bboxOf(scenes.features);
    if (box) map.fitBounds(box, { padding: 20, animate: false });
    popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, offset: 8 });
    map.on("click", (ev) => {
      const hit = map.queryRenderedFeatures(ev.point, { layers: ["hits-fill"] })[0];
      if (hit && handlers.onHit) handlers.onHit(Number(hit.properties.id));
      else if (handlers.onClick) handlers.onClick(ev.lngLat.lng, ev.lngLat.lat);
    });
    map.on("mousemove", "hits-fill", (ev) => {
      const id = Number(ev.features[0].properties.id);
      const r = (handlers.lookup && handlers.lookup(id)) || null;
      map.getCanvas().style.cursor = "pointer";
      if (r) popup.setLngLat(ev.lngLat).setDOMContent(popupContent(r)).addTo(map);
    });
    map.on("mouseleave", "hits-fill", () => { map.getCanvas().style.cursor = ""; popup.remove(); });
    enableBoxDrawing(container);
    await new Promise((resolve) => map.once("load", resolve));
    container.dataset.ready = "true";
  }

  function rankMarker(r) {
    const node = el("button", "rank-marker", r.rank);
    node.type = "button";
    node.title = `#${r.rank}: search from this tile`;
    node.dataset.id = r.id;
    node.addEventListener("click", (ev) => { ev.stopPropagation(); if (handlers.onHit) handlers.onHit(r.id); });
    const [w, , , n] = r.geo.lonlat_bounds;
    return new window.maplibregl.Marker({ element: node, anchor: "top-left" }).setLngLat([w, n]);
  }

  window.mlrsirMap = {
    // Show the map in `container` (revealing `card`); options: onClick(lon, lat) on a map
    // click, onHit(id) on a hit, onBox(bbox) after a shift-drag, lookup(id) -> the result
    // shown in a hit's popup, basemap (XYZ template or null).
    init(container, card, options) {
      if (!ready) ready = init(container, card, options).catch((err) => { card.hidden = true; console.warn(err); });
      return ready;
    },
    // Outline the hits of a search response's results (those with geo), ranks as markers.
    async showHits(results) {
      if (!ready) return;
      await ready;
      if (!map || !map.getSource("hits")) return;
      map.getSource("hits").setData(hitFeatures(results));
      for (const m of markers) m.remove();
      markers = (results || []).filter((r) => r.geo && r.geo.lonlat_bounds).map((r) => rankMarker(r).addTo(map));
      this.showMatch(null);
      if (popup) popup.remove();
    },
    // The drawn box filter ([w, s, e, n]) or none.
    async showBox(bbox) {
      if (!ready) return;
      await ready;
      setBox(bbox);
    },
    // The match heat map (a canvas) over a hit's lonlat_bounds; null removes it.
    async showMatch(bounds, canvas) {
      if (!ready) return;
      await ready;
      if (!map) return;
      if (map.getLayer("match")) map.removeLayer("match");
      if (map.getSource("match")) map.removeSource("match");
      if (!bounds) return;
      const [w, s, e, n] = bounds;
      map.addSource("match", { type: "canvas", canvas, animate: false, coordinates: [[w, n], [e, n], [e, s], [w, s]] });
      map.addLayer({ id: "match", type: "raster", source: "match", paint: { "raster-opacity": 0.75, "raster-resampling": "nearest" } }, "footprints");
    },
    // Ids of the style's layers, bottom to top (tests, debugging).
    layerIds() { return map ? map.getStyle().layers.map((l) => l.id) : []; },
  };
})();
