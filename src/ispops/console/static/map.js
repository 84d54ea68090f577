// The console's network map (templates/map/index.html): Leaflet, the tenant's features from the GeoJSON
// endpoint named by the map element's data-features, tiles only when the tenant set a tile source
// (data-tiles); without one nothing is fetched from any other host and the features are drawn on a plain
// background. Every feature is an SVG path with the classes "ispops-f ispops-f-<kind>" (tests count them).
(function () {
  "use strict";

  var ORDER = ["sector", "cable", "device", "closure", "splitter", "tower", "onu"];
  var TITLES = {
    sector: "Sector coverage",
    cable: "Cable routes",
    closure: "Closures",
    splitter: "Splitters",
    tower: "Towers",
    device: "Devices",
    onu: "ONUs (light health)"
  };
  var RADIUS = { tower: 9, splitter: 7, closure: 6, device: 7, onu: 5 };

  function popup(props) {
    var box = document.createElement("div");
    box.className = "map-popup";
    var title = document.createElement(props.href ? "a" : "strong");
    title.textContent = props.name;
    if (props.href) {
      title.setAttribute("href", props.href);
    }
    box.appendChild(title);
    var kind = document.createElement("div");
    kind.className = "map-popup-kind";
    kind.textContent = props.kind + (props.offline ? " (offline)" : "");
    box.appendChild(kind);
    (props.lines || []).forEach(function (line) {
      var p = document.createElement("div");
      p.textContent = line;
      box.appendChild(p);
    });
    return box;
  }

  function style(props) {
    var kind = props.kind;
    var cls = "ispops-f ispops-f-" + kind + (props.offline ? " ispops-offline" : "") +
      (props.health ? " ispops-health-" + props.health : "");
    if (kind === "sector") {
      return { color: props.colour, weight: 1, fillOpacity: 0.12, className: cls };
    }
    if (kind === "cable") {
      return { color: props.colour, weight: 3, opacity: 0.9, className: cls };
    }
    return {
      radius: RADIUS[kind] || 6,
      color: "#ffffff",
      weight: 1.5,
      fillColor: props.colour,
      fillOpacity: 0.95,
      className: cls
    };
  }

  function draw(el, data) {
    var tiles = el.getAttribute("data-tiles");
    var map = L.map(el, { attributionControl: !!tiles, preferCanvas: false, zoomSnap: 0.5 });
    if (tiles) {
      L.tileLayer(tiles, { attribution: el.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
    }
    var groups = {};
    var overlays = {};
    ORDER.forEach(function (kind) {
      groups[kind] = L.featureGroup().addTo(map);
      overlays[TITLES[kind]] = groups[kind];
    });
    var bounds = L.latLngBounds([]);
    data.features.forEach(function (f) {
      var props = f.properties;
      var layer = L.geoJSON(f, {
        style: function () { return style(props); },
        pointToLayer: function (_feature, latlng) { return L.circleMarker(latlng, style(props)); }
      });
      layer.bindPopup(function () { return popup(props); });
      layer.addTo(groups[props.kind] || map);
      bounds.extend(layer.getBounds());
    });
    L.control.layers(null, overlays, { collapsed: true }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    if (bounds.isValid()) {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
    } else {
      map.setView([0, 0], 2);
    }
    if (data.truncated) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = "Too many ONUs to draw at once: only the first " +
        data.features.filter(function (f) { return f.properties.kind === "onu"; }).length + " are shown.";
      el.parentNode.insertBefore(note, el.nextSibling);
    }
    el.setAttribute("data-drawn", String(data.features.length));
    el.dispatchEvent(new CustomEvent("ispops:map-drawn", { detail: data.features.length }));
  }

  function start() {
    var el = document.getElementById("network-map");
    if (!el || el.getAttribute("data-started")) {
      return;
    }
    el.setAttribute("data-started", "1");
    fetch(el.getAttribute("data-features"), { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("features: HTTP " + r.status);
        }
        return r.json();
      })
      .then(function (data) { draw(el, data); })
      .catch(function (err) {
        el.setAttribute("data-error", String(err));
        el.textContent = "The map's features could not be loaded: " + err;
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
