// The subscriber 360 page's usage charts (templates/subscriber/detail.html): uPlot bars over the JSON in
// <script id="usage-data"> — daily GB of the last 31 days, and GB per billing period — each with its cap
// (the plan's daily or monthly cap, GB) as a flat line when the plan has one.
(function () {
  "use strict";

  function draw(el, series, capLabel) {
    if (!el || el.getAttribute("data-started")) {
      return;
    }
    el.setAttribute("data-started", "1");
    el.setAttribute("data-points", String(series.x.length));
    if (!series.x.length || typeof uPlot === "undefined") {
      el.textContent = "No usage recorded.";
      return;
    }
    var data = [series.x, series.gb];
    var lines = [{}, {
      label: "GB", stroke: "#1565c0", fill: "rgba(21,101,192,0.35)", width: 1,
      paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false }
    }];
    if (series.cap !== null && series.cap !== undefined) {
      data.push(series.x.map(function () { return series.cap; }));
      lines.push({ label: capLabel, stroke: "#c62828", width: 2, dash: [6, 4], points: { show: false } });
    }
    var opts = {
      width: Math.max(300, Math.min(el.clientWidth || 520, 640)),
      height: 220,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, series.cap || 0) * 1.1 || 1]; } } },
      axes: [{}, { label: "GB" }],
      series: lines
    };
    new uPlot(opts, data, el);
  }

  function start() {
    var src = document.getElementById("usage-data");
    if (!src) {
      return;
    }
    var d = JSON.parse(src.textContent);
    draw(document.getElementById("usage-daily"), d.daily, "daily cap");
    draw(document.getElementById("usage-periods"), d.periods, "monthly cap");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
