// Map view of a georeferenced index (MapLibre GL JS, served from /static/vendor/).
// The scenes (GET /api/scenes) are drawn as XYZ raster layers (their tiles_url) with their
// footprints; the hits of the last search as outlined boxes; a click on the
// map asks the page to search at that point. Nothing is loaded unless the index is
// georeferenced (app.js calls mlrsirMap.init only then).
"use strict";

(function () {
  const VENDOR = "/static/vendor/";
  let map = null;
  let ready = null;

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

  function hitFeatures(results) {
    const features = [];
    for (const r of results || []) {
      const b = r.geo && r.geo.lonlat_bounds;
      if (!b) continue;
      const [w, s, e, n] = b;
      features.push({
        type: "Feature",
        properties: { rank: r.rank, id: r.id, distance: r.distance },
        geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
      });
    }
    return { type: "FeatureCollection", features };
  }

  async function init(container, card, onClick) {
    loadStyle(VENDOR + "maplibre-gl.css");
    await loadScript(VENDOR + "maplibre-gl-csp.js");
    const maplibregl = window.maplibregl;
    maplibregl.setWorkerUrl(VENDOR + "maplibre-gl-csp-worker.js");
    const response = await fetch("/api/scenes");
    const scenes = await response.json();
    const sources = {}, layers = [{ id: "background", type: "background", paint: { "background-color": "#e8ecef" } }];
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
    sources.hits = { type: "geojson", data: hitFeatures([]) };
    layers.push({ id: "footprints", type: "line", source: "footprints", paint: { "line-color": "#1f6feb", "line-width": 1.5 } });
    layers.push({ id: "hits", type: "line", source: "hits", paint: { "line-color": "#e5534b", "line-width": 2 } });
    card.hidden = false;
    map = new maplibregl.Map({
      container, style: { version: 8, sources, layers },
      attributionControl: false, dragRotate: false,
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    const box = bboxOf(scenes.features);
    if (box) map.fitBounds(box, { padding: 20, animate: false });
    map.on("click", (ev) => onClick(ev.lngLat.lng, ev.lngLat.lat));
    await new Promise((resolve) => map.once("load", resolve));
    container.dataset.ready = "true";
  }

  window.mlrsirMap = {
    // Show the map in `container` (revealing `card`); onClick(lon, lat) on a map click.
    init(container, card, onClick) {
      if (!ready) ready = init(container, card, onClick).catch((err) => { card.hidden = true; console.warn(err); });
      return ready;
    },
    // Outline the hits of a search response's results (those with geo).
    async showHits(results) {
      if (!ready) return;
      await ready;
      if (map && map.getSource("hits")) map.getSource("hits").setData(hitFeatures(results));
    },
  };
})();
