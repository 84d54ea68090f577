// An ONU's optical history (templates/ftth/onu.html): uPlot over the JSON in <script id="optics-data">
// (uPlot's column layout: x in Unix seconds, then Rx avg/min/max and the OLT's Rx of the ONU, dBm), with the
// class's warning and critical thresholds as flat series.
(function () {
  "use strict";

  function start() {
    var el = document.getElementById("optics-chart");
    var src = document.getElementById("optics-data");
    if (!el || !src || el.getAttribute("data-started")) {
      return;
    }
    el.setAttribute("data-started", "1");
    var d = JSON.parse(src.textContent);
    if (!d.x.length) {
      el.setAttribute("data-points", "0");
      return;
    }
    var flat = function (v) { return d.x.map(function () { return v; }); };
    var data = [d.x, d.rx_avg_dbm, d.rx_min_dbm, d.rx_max_dbm, d.olt_rx_avg_dbm, flat(d.warning), flat(d.critical)];
    var opts = {
      width: Math.max(320, Math.min(el.clientWidth || 800, 1100)),
      height: 280,
      scales: { x: { time: true } },
      axes: [{}, { label: "dBm" }],
      series: [
        {},
        { label: "Rx avg", stroke: "#1565c0", width: 2 },
        { label: "Rx min", stroke: "#90caf9", width: 1 },
        { label: "Rx max", stroke: "#90caf9", width: 1 },
        { label: "OLT Rx", stroke: "#2e7d32", width: 1.5 },
        { label: "warning", stroke: "#f9a825", dash: [6, 4], width: 1, points: { show: false } },
        { label: "critical", stroke: "#c62828", dash: [6, 4], width: 1, points: { show: false } }
      ]
    };
    new uPlot(opts, data, el);
    el.setAttribute("data-points", String(d.x.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
