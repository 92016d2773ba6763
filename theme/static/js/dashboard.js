/* Dashboard charts: fetches the owner-scoped series JSON and draws it with uPlot (vendored, no CDN).
 * Times are shown in the server's time zone (Europe/Brussels), whatever the browser's zone is. */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root || typeof uPlot === "undefined") return;

  var TZ = root.dataset.timezone || "Europe/Brussels";
  var VIEW = root.dataset.view;
  var COLORS = {
    import: "#1663c1",
    importFill: "rgba(22, 99, 193, 0.75)",
    export: "#059669",
    exportFill: "rgba(5, 150, 105, 0.75)",
    estimated: "rgba(245, 176, 20, 0.85)",
    avg: "#475569",
    max: "#dc2626",
    phases: ["#7c3aed", "#ea580c", "#0891b2"],
    day: "rgba(245, 176, 20, 0.9)",
    night: "rgba(30, 58, 138, 0.85)",
    gas: "rgba(234, 88, 12, 0.8)",
  };

  // Auto-submit the meter selector and date picker (the Show button stays for keyboard and no-JS users).
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  var nf0 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
  var nf3 = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 3 });
  function watts(v) {
    if (v == null) return "–";
    return Math.abs(v) >= 1000 ? nf3.format(v / 1000) + " kW" : nf0.format(v) + " W";
  }
  function kwh(v) { return v == null ? "–" : nf3.format(v) + " kWh"; }
  function m3(v) { return v == null ? "–" : nf3.format(v) + " m³"; }

  function tzDate(ts) { return uPlot.tzDate(new Date(ts * 1e3), TZ); }

  function bars(size) {
    return uPlot.paths.bars({ size: [size || 0.8, 60], gap: 1 });
  }

  function baseOptions(el, series, yFormat) {
    return {
      width: Math.max(el.clientWidth, 280),
      height: el.clientHeight || 256,
      tzDate: tzDate,
      cursor: { points: { show: false } },
      legend: { live: true },
      scales: {
        x: { time: true },
        // Bars and energy start at zero; a net phase load can be negative (export).
        y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.08 : 1]; } },
      },
      axes: [
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          ticks: { stroke: "#cbd5e1" },
          values: function (u, splits, axisIdx, space, incr) { return splits.map(function (ts) { return axisLabel(ts, incr); }); },
        },
        {
          stroke: "#475569",
          grid: { stroke: "#e2e8f0" },
          ticks: { stroke: "#cbd5e1" },
          size: 64,
          values: function (u, vals) { return vals.map(yFormat); },
        },
      ],
      series: [{ value: function (u, ts) { return ts == null ? "–" : fmtTime(ts); } }].concat(series),
    };
  }

  var timeFmt = {
    day: { hour: "2-digit", minute: "2-digit" },
    week: { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" },
    month: { weekday: "short", day: "numeric", month: "short" },
  };
  var hm = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false });
  var dayShort = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, weekday: "short", day: "numeric" });
  var dayMonth = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, day: "numeric", month: "short" });
  // Tick labels in the dashboard's zone, 24-hour clock; midnight ticks of a week show the day instead.
  function axisLabel(ts, incr) {
    var d = new Date(ts * 1e3);
    if (incr >= 86400) return dayMonth.format(d);
    var time = hm.format(d);
    if (VIEW !== "day" && time === "00:00") return dayShort.format(d);
    return time;
  }

  function fmtTime(ts) {
    var opts = Object.assign({ timeZone: TZ, hour12: false }, timeFmt[VIEW] || timeFmt.day);
    return new Date(ts * 1e3).toLocaleString("en-GB", opts);
  }

  function only(buckets, key, wantEstimated) {
    return buckets.map(function (b) { return !!b.estimated === wantEstimated ? b[key] : null; });
  }
  function constant(buckets, value) { return buckets.map(function () { return value; }); }

  var charts = [];
  function draw(name, series, data, yFormat) {
    var el = root.querySelector('[data-chart="' + name + '"]');
    if (!el) return;
    el.innerHTML = "";
    var hasValue = data.slice(1).some(function (s) { return s.some(function (v) { return v != null; }); });
    if (!hasValue) {
      el.innerHTML = '<p class="flex h-full items-center justify-center text-sm text-slate-500" data-empty-chart>No data for this period.</p>';
      return;
    }
    var chart = new uPlot(baseOptions(el, series, yFormat), data, el);
    charts.push({ chart: chart, el: el });
  }

  function powerChart(name, buckets, key, power, label, color, fill) {
    var avg = power[key + "_avg_w"], max = power[key + "_max_w"];
    var hasEstimate = buckets.some(function (b) { return b.estimated && b[key + "_w"] != null; });
    var series = [
      { label: label, stroke: color, fill: fill, paths: bars(), points: { show: false }, value: function (u, v) { return watts(v); } },
      { label: "Estimated", stroke: COLORS.estimated, fill: COLORS.estimated, paths: bars(), points: { show: false }, show: true, value: function (u, v) { return watts(v); } },
      { label: "Average", stroke: COLORS.avg, width: 1.5, dash: [6, 4], points: { show: false }, value: function () { return watts(avg); } },
      { label: "Maximum", stroke: COLORS.max, width: 1.5, dash: [2, 3], points: { show: false }, value: function () { return watts(max); } },
    ];
    var data = [
      null,
      only(buckets, key + "_w", false),
      only(buckets, key + "_w", true),
      constant(buckets, avg),
      constant(buckets, max),
    ];
    if (!hasEstimate) { series.splice(1, 1); data.splice(2, 1); }
    return { series: series, data: data };
  }

  function render(json) {
    var buckets = json.buckets;
    var xs = buckets.map(function (b) { return Date.parse(b.start) / 1000; });

    var imp = powerChart("import", buckets, "import", json.power, "Import", COLORS.import, COLORS.importFill);
    imp.data[0] = xs;
    draw("import", imp.series, imp.data, watts);

    var exp = powerChart("export", buckets, "export", json.power, "Export", COLORS.export, COLORS.exportFill);
    exp.data[0] = xs;
    draw("export", exp.series, exp.data, watts);

    var phaseSeries = [], phaseData = [xs];
    for (var p = 0; p < 3; p++) {
      var values = buckets.map(function (b) { return b.load_w[p]; });
      if (values.some(function (v) { return v != null; })) {
        phaseSeries.push({ label: "L" + (p + 1), stroke: COLORS.phases[p], width: 1.5, points: { show: false }, spanGaps: false, value: function (u, v) { return watts(v); } });
        phaseData.push(values);
      }
    }
    if (phaseSeries.length) draw("phases", phaseSeries, phaseData, watts);
    else draw("phases", [{ label: "L1" }], [xs, constant(buckets, null)], watts);

    draw(
      "daynight",
      [
        { label: "Day tariff", stroke: COLORS.day, fill: COLORS.day, paths: uPlot.paths.bars({ size: [0.4, 30], align: -1 }), points: { show: false }, value: function (u, v) { return kwh(v); } },
        { label: "Night tariff", stroke: COLORS.night, fill: COLORS.night, paths: uPlot.paths.bars({ size: [0.4, 30], align: 1 }), points: { show: false }, value: function (u, v) { return kwh(v); } },
      ],
      [xs, buckets.map(function (b) { return b.import_day_kwh; }), buckets.map(function (b) { return b.import_night_kwh; })],
      function (v) { return nf3.format(v); }
    );

    if (json.has_gas) {
      draw(
        "gas",
        [{ label: "Gas", stroke: COLORS.gas, fill: COLORS.gas, paths: bars(), points: { show: false }, value: function (u, v) { return m3(v); } }],
        [xs, buckets.map(function (b) { return b.gas_m3; })],
        function (v) { return nf3.format(v); }
      );
    }
    root.dataset.chartsReady = "true";
  }

  function fail(message) {
    var box = document.getElementById("chart-error");
    if (box) { box.textContent = message; box.classList.remove("hidden"); }
    root.dataset.chartsReady = "error";
  }

  fetch(root.dataset.seriesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) throw new Error("The chart data could not be loaded (HTTP " + r.status + ").");
      return r.json();
    })
    .then(render)
    .catch(function (err) { fail(err.message || String(err)); });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) { c.chart.setSize({ width: Math.max(c.el.clientWidth, 280), height: c.el.clientHeight || 256 }); });
    }, 150);
  });

  // --- Qlik tab (only rendered when the QLIK_* settings are set) -----------------------------------------
  var qlikConfigEl = document.getElementById("qlik-config");
  var tabs = document.querySelectorAll("[data-tab]");
  var qlikLoaded = false;
  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () {
      tabs.forEach(function (t) {
        var active = t === tab;
        t.setAttribute("aria-selected", active ? "true" : "false");
        t.classList.toggle("border-brand-600", active);
        t.classList.toggle("text-brand-700", active);
        t.classList.toggle("border-transparent", !active);
        t.classList.toggle("text-slate-600", !active);
        var panel = document.getElementById("panel-" + t.dataset.tab);
        if (panel) { panel.hidden = !active; panel.classList.toggle("hidden", !active); }
      });
      if (tab.dataset.tab === "qlik" && !qlikLoaded && qlikConfigEl) { qlikLoaded = true; loadQlik(JSON.parse(qlikConfigEl.textContent)); }
    });
  });

  function loadQlik(cfg) {
    var base = "https://" + cfg.host;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = base + "/resources/autogenerated/qlik-styles.css";
    document.head.appendChild(css);
    // Qlik Cloud needs a Qlik login; the data shown is limited by the app's section access (see docs/qlik.md).
    fetch(base + "/api/v1/users/me", { mode: "cors", credentials: "include", headers: { "qlik-web-integration-id": cfg.webIntegrationId } })
      .then(function (r) {
        if (r.status !== 200) {
          window.location.href = base + "/login?qlik-web-integration-id=" + encodeURIComponent(cfg.webIntegrationId) + "&returnto=" + encodeURIComponent(location.href);
          throw new Error("Not logged in to Qlik");
        }
        var s = document.createElement("script");
        s.src = base + "/resources/assets/external/requirejs/require.js";
        s.onload = function () {
          window.require.config({ baseUrl: base + "/resources", webIntegrationId: cfg.webIntegrationId });
          window.require(["js/qlik"], function (qlik) {
            var app = qlik.openApp(cfg.appId, { host: cfg.host, prefix: "/", port: 443, isSecure: true, webIntegrationId: cfg.webIntegrationId });
            document.querySelectorAll("[data-qlik-object]").forEach(function (el, i) {
              el.id = "qlik-object-" + i;
              app.getObject(el.id, el.dataset.qlikObject);
            });
          });
        };
        document.head.appendChild(s);
      })
      .catch(function (err) { fail("Qlik: " + (err.message || err)); });
  }
})();
