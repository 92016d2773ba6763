/* Trends page charts: draws the JSON the page embeds (json_script "trends-data") with uPlot (vendored, no CDN).
 *
 * Two charts, each with the dashboard's accessible pattern (theme/static/js/dashboard.js): a focusable group whose
 * points the arrow keys step through (Home/End jump, Escape hides the values), a live line a screen reader hears,
 * a summary sentence and the chart's values as a table under it (WCAG 1.1.1: the canvas is no text).
 *   profile    the average day: mean import power per wall-clock quarter-hour (00:00..23:45), weekdays solid,
 *              weekends dashed; export the same way when there is any
 *   base-load  the base load of each day (the lowest hourly average) and the monthly mean as a dashed step line
 * Numbers use window.P1Format, defined by dashboard.js (loaded before this file), so they read as the cards do;
 * texts come from Django's JavaScriptCatalog (gettext/interpolate). Colours: the stylesheet's --chart-* properties,
 * drawn again when an automatic colour scheme turns. Days are ISO dates drawn on a UTC axis (a day is a day, also
 * across DST); quarter-hours are positions of the local wall-clock day, so no time zone applies to either.
 */
(function () {
  "use strict";

  var root = document.getElementById("trends");
  if (!root || typeof uPlot === "undefined") return;

  var gettext = window.gettext || function (msgid) { return msgid; };
  var ngettext = window.ngettext || function (singular, plural, n) { return n === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\(\w+\)s/g, function (match) { return String(obj[match.slice(2, -2)]); });
  };
  function text(fmt, values) { return interpolate(fmt, values, true); }

  var F = window.P1Format || {
    locale: "en-GB",
    power: function (w) { return w == null ? "\u2013" : Math.round(w) + "\u00a0W"; },
  };
  var power = F.power;
  var LOCALE = F.locale || "en-GB";
  var dayLong = new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric" });
  var dayMonth = new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", day: "numeric", month: "short" });
  var monthYear = new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", month: "long", year: "numeric" });
  var hourMinute = new Intl.DateTimeFormat(LOCALE, { timeZone: root.dataset.timezone || "Europe/Brussels", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  var COLORS;
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue("--chart-" + name).trim(); }
  function readColors() {
    COLORS = { import: css("import"), export: css("export"), night: css("night"), avg: css("avg"), axis: css("axis"), grid: css("grid"), tick: css("tick") };
  }
  function rgb(c) { return "rgb(" + c + ")"; }

  function clock(minute) {
    var h = Math.floor(minute / 60), m = minute % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m;
  }
  function span(minute) { return clock(minute) + "\u2013" + clock((minute + 15) % 1440); }
  function dayEpoch(iso) {
    var p = iso.split("-").map(Number);
    return Date.UTC(p[0], p[1] - 1, p[2]) / 1000;
  }
  function fromEpoch(ts) { return new Date(ts * 1000); }

  var AXIS_FONT = "12px " + getComputedStyle(document.body).fontFamily;
  var measure = document.createElement("canvas").getContext("2d");
  function labelWidth(values) {
    measure.font = AXIS_FONT;
    return (values || []).reduce(function (w, v) { return Math.max(w, v ? measure.measureText(v).width : 0); }, 0);
  }
  // 1-2-5 steps in whole watts, as the dashboard's power axes (two ticks never read the same).
  var W_STEPS = [];
  for (var m = 1; m <= 1e7; m *= 10) W_STEPS.push(m, 2 * m, 2.5 * m, 5 * m);

  function axes(xValues, xIncrs) {
    var x = { stroke: COLORS.axis, font: AXIS_FONT, grid: { stroke: COLORS.grid }, ticks: { stroke: COLORS.tick }, values: xValues };
    if (xIncrs) x.incrs = xIncrs;
    return [
      x,
      {
        stroke: COLORS.axis, font: AXIS_FONT, grid: { stroke: COLORS.grid }, ticks: { stroke: COLORS.tick }, incrs: W_STEPS,
        size: function (u, values) { return Math.ceil(labelWidth(values)) + 20; },
        values: function (u, vals) { return vals.map(power); },
      },
    ];
  }
  function yRange(u, min, max) {
    var hi = Math.max(0, max == null ? 0 : max);
    return hi <= 0 ? [0, 100] : [0, hi * 1.08];
  }

  // --- Text alternative: the summary sentence and a table of the chart's points --------------------------------
  function describeInText(figure, caption, summary, rows, columns) {
    var summaryEl = figure.querySelector("[data-chart-summary]"), slot = figure.querySelector("[data-chart-table]");
    if (summaryEl) summaryEl.textContent = summary;
    if (!slot) return;
    var details = document.createElement("details");
    details.className = "mt-2 text-sm";
    var toggle = document.createElement("summary");
    toggle.className = "cursor-pointer font-medium text-brand-700 underline underline-offset-2";
    toggle.textContent = text(gettext("%(chart)s as a table"), { chart: caption });
    details.appendChild(toggle);
    var wrap = document.createElement("div");
    // Focusable when it scrolls sideways on a phone, so a keyboard can scroll it too.
    wrap.className = "mt-2 max-w-full overflow-x-auto";
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "group");
    wrap.setAttribute("aria-label", caption);
    var table = document.createElement("table");
    table.className = "w-full text-left text-xs tabular-nums";
    var cap = document.createElement("caption");
    cap.className = "sr-only";
    cap.textContent = caption;
    table.appendChild(cap);
    var head = table.createTHead().insertRow();
    columns.forEach(function (c) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "py-1 pr-3 font-semibold";
      th.textContent = c.label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    body.className = "divide-y divide-slate-100";
    rows.forEach(function (r) {
      var row = body.insertRow();
      columns.forEach(function (c, i) {
        var cell;
        if (i === 0) { cell = document.createElement("th"); cell.scope = "row"; cell.className = "py-1 pr-3 font-normal"; row.appendChild(cell); }
        else { cell = row.insertCell(); cell.className = "py-1 pr-3"; }
        cell.textContent = c.value(r);
      });
    });
    wrap.appendChild(table);
    details.appendChild(wrap);
    slot.replaceChildren(details);
  }

  // --- Tooltip and keyboard: the dashboard's (dashboard.js, loaded first): hover, tap or arrow keys show one
  // point's values, and a screen reader hears them from the chart's live line.
  var attachTip = window.P1Chart.attachTip;

  var charts = [];
  function draw(name, opts, data, describe, alt) {
    var el = root.querySelector('[data-chart="' + name + '"]');
    if (!el) return;
    el.replaceChildren();
    var figure = el.closest("figure");
    figure.querySelectorAll("[data-chart-summary], [data-chart-table], [data-chart-live]").forEach(function (n) { n.replaceChildren(); });
    var hasValue = data.slice(1).some(function (s) { return s.some(function (v) { return v != null; }); });
    if (!hasValue) {
      var tpl = document.getElementById("chart-empty");
      el.replaceChildren(tpl ? tpl.content.cloneNode(true) : document.createElement("p"));
      el.removeAttribute("tabindex");
      return;
    }
    describeInText(figure, alt.caption, alt.summary, alt.rows, alt.columns);
    var options = Object.assign({
      width: Math.max(el.clientWidth, 200),
      height: Number(el.dataset.chartHeight) || 256,
      cursor: { points: { show: false } },
      legend: { live: false },
    }, opts);
    var chart = new uPlot(options, data, el);
    attachTip(chart, el, data[0], describe);
    charts.push({ chart: chart, el: el });
    if (resizer) resizer.observe(el);
  }

  function extreme(values, labels, pick) {
    var best = -1;
    values.forEach(function (v, i) { if (v != null && (best < 0 || pick(v, values[best]))) best = i; });
    return best < 0 ? null : { value: values[best], label: labels[best] };
  }
  function higher(a, b) { return a > b; }
  function lower(a, b) { return a < b; }

  function profileChart(json) {
    var p = json.profile, minutes = p.minutes, xs = minutes.map(function (m) { return m / 60; });
    var withExport = p.weekday.export_w.concat(p.weekend.export_w).some(function (v) { return v != null && v > 0; });
    var lines = [
      { key: "weekday", field: "import_w", label: gettext("Import, weekdays"), stroke: rgb(COLORS.import), dash: [] },
      { key: "weekend", field: "import_w", label: gettext("Import, weekends"), stroke: rgb(COLORS.night), dash: [6, 4] },
    ];
    if (withExport) {
      lines.push({ key: "weekday", field: "export_w", label: gettext("Export, weekdays"), stroke: rgb(COLORS.export), dash: [] });
      lines.push({ key: "weekend", field: "export_w", label: gettext("Export, weekends"), stroke: rgb(COLORS.export), dash: [2, 3] });
    }
    var series = lines.map(function (l) { return { label: l.label, stroke: l.stroke, width: 2, dash: l.dash, points: { show: false }, spanGaps: false }; });
    var data = [xs].concat(lines.map(function (l) { return p[l.key][l.field]; }));
    var labels = minutes.map(span);
    var wk = extreme(p.weekday.import_w, labels, higher), we = extreme(p.weekend.import_w, labels, higher);
    var parts = [];
    if (wk) parts.push(text(gettext("Weekdays: highest %(power)s at %(time)s."), { power: power(wk.value), time: wk.label }));
    if (we) parts.push(text(gettext("Weekends: highest %(power)s at %(time)s."), { power: power(we.value), time: we.label }));
    var rows = minutes.map(function (m, i) { return i; });
    var columns = [{ label: gettext("Quarter-hour"), value: function (i) { return labels[i]; } }].concat(
      lines.map(function (l) { return { label: l.label, value: function (i) { return power(p[l.key][l.field][i]); } }; })
    );
    draw("profile", {
      scales: { x: { time: false, range: [0, 24] }, y: { range: yRange } },
      axes: axes(function (u, splits) { return splits.map(function (h) { return clock(Math.round(h * 60)); }); }, [1, 2, 3, 4, 6, 12]),
      series: [{}].concat(series),
    }, data, function (idx) {
      return {
        title: labels[idx],
        rows: lines.map(function (l) {
          var n = p[l.key].quarters[idx];
          return text(ngettext("%(label)s: %(power)s (%(count)s quarter-hour)", "%(label)s: %(power)s (%(count)s quarter-hours)", n), { label: l.label, power: power(p[l.key][l.field][idx]), count: n });
        }),
      };
    }, { caption: gettext("Average day"), summary: parts.join(" "), rows: rows, columns: columns });
  }

  function baseLoadChart(json) {
    var b = json.base_load, days = b.days;
    var means = {};
    b.months.forEach(function (m) { means[m.month.slice(0, 7)] = m.mean_w; });
    var xs = days.map(function (d) { return dayEpoch(d.day); });
    var values = days.map(function (d) { return d.w; });
    var monthly = days.map(function (d) { return means[d.day.slice(0, 7)]; });
    var labels = days.map(function (d) { return dayLong.format(fromEpoch(dayEpoch(d.day))); });
    var low = extreme(values, labels, lower), last = b.months.length ? b.months[b.months.length - 1] : null;
    var summary = "";
    if (low) {
      summary = text(gettext("Base load on %(days)s days, lowest %(power)s on %(day)s."), { days: days.length, power: power(low.value), day: low.label });
      if (last) summary += " " + text(gettext("Mean of %(month)s: %(power)s."), { month: monthYear.format(fromEpoch(dayEpoch(last.month))), power: power(last.mean_w) });
    }
    var series = [
      { label: gettext("Base load"), stroke: rgb(COLORS.import), width: 1.5, points: { size: 4, show: days.length * 8 <= 1200 }, spanGaps: false },
      { label: gettext("Monthly mean"), stroke: COLORS.avg, width: 2, dash: [6, 4], points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }) },
    ];
    var columns = [
      { label: gettext("Day"), value: function (i) { return labels[i]; } },
      { label: gettext("Base load"), value: function (i) { return power(values[i]); } },
      { label: gettext("Hour"), value: function (i) { return hourMinute.format(new Date(days[i].hour)); } },
      { label: gettext("Monthly mean"), value: function (i) { return power(monthly[i]); } },
    ];
    draw("base-load", {
      tzDate: function (ts) { return uPlot.tzDate(fromEpoch(ts), "UTC"); },
      scales: { x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } }, y: { range: yRange } },
      axes: axes(function (u, splits) { return splits.map(function (ts) { return dayMonth.format(fromEpoch(ts)); }); }),
      series: [{}].concat(series),
    }, [xs, values, monthly], function (idx) {
      return {
        title: labels[idx],
        rows: [
          text(gettext("%(label)s: %(value)s"), { label: gettext("Base load"), value: text(gettext("%(power)s from %(time)s"), { power: power(values[idx]), time: hourMinute.format(new Date(days[idx].hour)) }) }),
          text(gettext("%(label)s: %(value)s"), { label: gettext("Monthly mean"), value: power(monthly[idx]) }),
        ],
      };
    }, { caption: gettext("Base load"), summary: summary, rows: days.map(function (d, i) { return i; }), columns: columns });
  }

  var json = null;
  function render() {
    try {
      json = json || JSON.parse(document.getElementById("trends-data").textContent);
      readColors();
      charts.forEach(function (c) { c.chart.destroy(); if (resizer) resizer.unobserve(c.el); });
      charts = [];
      profileChart(json);
      baseLoadChart(json);
      root.dataset.chartsReady = "true";
    } catch (err) {
      var box = document.getElementById("chart-error");
      if (box) { box.textContent = text(gettext("The charts could not be drawn: %(error)s"), { error: err.message || String(err) }); box.classList.remove("hidden"); }
      root.dataset.chartsReady = "error";
    }
  }

  function fit() {
    charts.forEach(function (c) {
      var w = Math.max(c.el.clientWidth, 200);
      if (w !== c.chart.width) c.chart.setSize({ width: w, height: Number(c.el.dataset.chartHeight) || 256 });
    });
  }
  var resizeTimer = null;
  function fitSoon() { clearTimeout(resizeTimer); resizeTimer = setTimeout(fit, 100); }
  var resizer = typeof ResizeObserver === "function" ? new ResizeObserver(fitSoon) : null;
  if (!resizer) window.addEventListener("resize", fitSoon);

  render();
  if (window.matchMedia && document.documentElement.dataset.theme === "auto") {
    var darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", render);
  }
})();
