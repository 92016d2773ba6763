/* Dashboard charts: draws the series JSON the page embeds (json_script "series-data") with uPlot (vendored, no CDN).
 * Times are shown in the dashboard's time zone (data-timezone, the server's Europe/Brussels), whatever the
 * browser's zone is, on a 24-hour clock (hourCycle h23).
 *
 * Language: the page's (<html lang>, set by Django from the profile, the header's switcher or the browser). Every
 * text comes from Django's JavaScriptCatalog (/jsi18n/, loaded before this file; catalogue
 * theme/locale/<lang>/LC_MESSAGES/djangojs.po) through gettext/interpolate with named placeholders; without the
 * catalogue (a page that does not load it) the English source texts show.
 *
 * Numbers: one rule for axes, legends and tooltips (window.P1Format; meters/presenters.py formats the cards
 * with the same rule, from energy_app/formats/<lang>/formats.py; docs/glossary.md "Numbers, dates and money"):
 *   power    whole watts below 1 000 W ("944 W"), otherwise kilowatts with 2 decimals ("2.12 kW"); the unit is
 *            chosen on the value rounded to whole watts, so 999.6 W reads "1.00 kW"
 *   energy   kWh, always 3 decimals ("14.200 kWh")
 *   gas      m³, always 3 decimals ("1.234 m³")
 *   money    €, 2 decimals; the euro sign first in en and nl ("€ 1.38", "€ 1,38"), after the number in fr and de
 *            ("1,38 €"); a minus sign comes before it all ("−€ 0.40", "−0,40 €")
 *   The decimal mark is "," in nl, fr and de and "." in English; thousands are grouped with a narrow no-break
 *   space (U+202F) in every language, a minus is U+2212, a no-break space separates number and unit, a missing
 *   value is "–". Ties round away from zero (0.125 → "0.13"; Python: Decimal ROUND_HALF_UP, not round() or
 *   format()). The digits come from Intl.NumberFormat(nl-BE, fr-BE, de-BE or en-GB); its group and decimal
 *   marks are then replaced by the glossary's, so every browser writes the same text as the cards.
 * Dates: Intl.DateTimeFormat in the same locale ("Tue 1 Dec", "di 1 dec", "mar. 1 déc.", "Di., 1. Dez.");
 *   English uses en-GB, which writes Belgium's English dates as the cards do ("Tue 1 Dec"; en-BE adds a comma).
 * Axes: a chart whose values are all zero (export without solar panels) gets a fixed range (0–100 W,
 *   0–0.1 kWh, 0–0.1 m³), and tick steps are multiples of the last digit shown, so two ticks never read the same.
 * Bars: dotted amber = estimated across missing readings; hatched, same hue = the running bucket ("so far": from its
 *   start up to the latest reading, JSON field `so_far`). A tap, click or arrow key on a chart shows the bar's values;
 *   a screen reader hears them (the chart's aria-live line), and each chart has a summary sentence and a table of
 *   the same buckets with units under it (WCAG 1.1.1: the canvas is no text).
 * Colours: the stylesheet's --chart-* properties, one set per colour scheme (theme/static_src/src/styles.css); the
 *   charts are drawn again when an automatic scheme turns. Patterns and positions carry what colour does (dotted =
 *   estimated, hatched = so far, phases in different dashes, day left of night), for colour-blind readers.
 */
(function () {
  "use strict";

  // --- Texts: Django's JavaScriptCatalog, or the English source texts when the page has not loaded it ------------
  var gettext = window.gettext || function (msgid) { return msgid; };
  var ngettext = window.ngettext || function (singular, plural, n) { return n === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\(\w+\)s/g, function (match) { return String(obj[match.slice(2, -2)]); });
  };
  function text(fmt, values) { return interpolate(fmt, values, true); }

  // --- Number format: the glossary's rules per language (Python: energy_app/formats/<lang>/formats.py) ---------
  var RULES = {
    en: { locale: "en-GB", decimal: ".", euroFirst: true },
    nl: { locale: "nl-BE", decimal: ",", euroFirst: true },
    fr: { locale: "fr-BE", decimal: ",", euroFirst: false },
    de: { locale: "de-BE", decimal: ",", euroFirst: false },
  };
  var LANG = (document.documentElement.lang || "en").toLowerCase().split("-")[0];
  var RULE = RULES[LANG] || RULES.en;
  var LOCALE = RULE.locale;
  var DASH = "\u2013", NBSP = "\u00a0";
  var numberFormats = {};
  function number(v, decimals) {
    if (Math.abs(v) < 0.5 * Math.pow(10, -decimals)) v = 0; // no "−0.000"
    var nf = numberFormats[decimals] || (numberFormats[decimals] = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
    return nf.formatToParts(v).map(function (p) {
      if (p.type === "group") return "\u202f";
      if (p.type === "decimal") return RULE.decimal;
      if (p.type === "minusSign") return "\u2212";
      return p.value;
    }).join("");
  }
  function power(w) {
    if (w == null || isNaN(w)) return DASH;
    return Math.round(Math.abs(w)) < 1000 ? number(w, 0) + NBSP + "W" : number(w / 1000, 2) + NBSP + "kW";
  }
  function kwh(v) { return v == null || isNaN(v) ? DASH : number(v, 3) + NBSP + "kWh"; }
  function m3(v) { return v == null || isNaN(v) ? DASH : number(v, 3) + NBSP + "m³"; }
  function eur(v) {
    if (v == null || isNaN(v)) return DASH;
    var digits = number(Math.abs(v), 2);
    var sign = v < 0 && digits !== number(0, 2) ? "\u2212" : "";
    return sign + (RULE.euroFirst ? "€" + NBSP + digits : digits + NBSP + "€");
  }
  window.P1Format = { lang: RULES[LANG] ? LANG : "en", locale: LOCALE, number: number, power: power, kwh: kwh, m3: m3, eur: eur };
  // The chart behaviour other pages reuse (trends.js): the tooltip with its keyboard and screen-reader line.
  window.P1Chart = { attachTip: attachTip };

  var root = document.getElementById("dashboard");
  if (!root || typeof uPlot === "undefined") return;

  var TZ = root.dataset.timezone || "Europe/Brussels";
  var VIEW = root.dataset.view;
  var BUCKET = root.dataset.bucket || "";
  // Hues as "r, g, b" so a hatched "so far" fill can reuse them; read from the stylesheet for the current scheme.
  var RGB, COLORS;
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue("--chart-" + name).trim(); }
  function readColors() {
    RGB = { import: css("import"), export: css("export"), day: css("day"), night: css("night"), gas: css("gas"), estimated: css("estimated") };
    COLORS = {
      avg: css("avg"), max: css("max"), axis: css("axis"), grid: css("grid"), tick: css("tick"),
      phases: [css("phase-1"), css("phase-2"), css("phase-3")].map(function (rgb) { return "rgb(" + rgb + ")"; }),
    };
    patterns = {};
  }
  function rgba(rgb, a) { return "rgba(" + rgb + ", " + a + ")"; }

  // Auto-submit the meter selector and date picker (the Show button stays for keyboard and no-JS users).
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Tick steps per unit: 1-2-5 (and 2.5 from two decimals up) multiples of the smallest digit the format shows.
  function steps(smallest, upTo) {
    var out = [];
    for (var m = smallest; m <= upTo; m *= 10) {
      out.push(m, 2 * m);
      if (m >= 0.01) out.push(2.5 * m);
      out.push(5 * m);
    }
    return out.map(function (s) { return +s.toPrecision(6); });
  }
  var UNITS = {
    W: { format: power, zeroMax: 100, incrs: steps(1, 1e7) },
    kWh: { format: kwh, zeroMax: 0.1, incrs: steps(0.001, 1e6) },
    m3: { format: m3, zeroMax: 0.1, incrs: steps(0.001, 1e6) },
  };
  function yRange(unit) {
    return function (u, min, max) {
      var lo = Math.min(0, min == null ? 0 : min), hi = Math.max(0, max == null ? 0 : max);
      if (hi - lo <= 0) return [0, unit.zeroMax];
      return [lo * 1.08, hi * 1.08];
    };
  }

  var AXIS_FONT = "12px " + getComputedStyle(document.body).fontFamily;
  var measure = document.createElement("canvas").getContext("2d");
  function labelWidth(values) {
    measure.font = AXIS_FONT;
    return (values || []).reduce(function (w, v) { return Math.max(w, v ? measure.measureText(v).width : 0); }, 0);
  }

  // The running bucket: light tint of the series' hue with diagonal stripes (canvas pixels, so sharp on any screen).
  var patterns = {};
  function hatch(rgb) {
    if (patterns[rgb]) return patterns[rgb];
    var r = uPlot.pxRatio || window.devicePixelRatio || 1, s = Math.round(7 * r);
    var c = document.createElement("canvas");
    c.width = c.height = s;
    var ctx = c.getContext("2d");
    ctx.fillStyle = rgba(rgb, 0.18);
    ctx.fillRect(0, 0, s, s);
    ctx.strokeStyle = rgba(rgb, 0.9);
    ctx.lineWidth = Math.max(1, 1.5 * r);
    ctx.beginPath();
    ctx.moveTo(-1, s + 1); ctx.lineTo(s + 1, -1);
    ctx.moveTo(-1, 1); ctx.lineTo(1, -1);
    ctx.moveTo(s - 1, s + 1); ctx.lineTo(s + 1, s - 1);
    ctx.stroke();
    return (patterns[rgb] = ctx.createPattern(c, "repeat"));
  }
  // Estimated bars: the estimated hue with dots, so they differ from measured ones without colour vision too.
  function dotted(rgb) {
    var key = "dots " + rgb;
    if (patterns[key]) return patterns[key];
    var r = uPlot.pxRatio || window.devicePixelRatio || 1, s = Math.round(6 * r);
    var c = document.createElement("canvas");
    c.width = c.height = s;
    var ctx = c.getContext("2d");
    ctx.fillStyle = rgba(rgb, 0.85);
    ctx.fillRect(0, 0, s, s);
    ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
    ctx.beginPath();
    ctx.arc(s / 2, s / 2, 1.1 * r, 0, 2 * Math.PI);
    ctx.fill();
    return (patterns[key] = ctx.createPattern(c, "repeat"));
  }

  function tzDate(ts) { return uPlot.tzDate(new Date(ts * 1e3), TZ); }

  function bars(opts) {
    return uPlot.paths.bars(Object.assign({ size: [0.8, 60], gap: 1 }, opts || {}));
  }

  var hm = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  var dayShort = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, weekday: "short", day: "numeric" });
  var dayMonth = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, day: "numeric", month: "short" });
  var weekdayDayMonth = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, weekday: "short", day: "numeric", month: "short" });
  var monthYear = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: "short", year: "numeric" });
  var monthShort = new Intl.DateTimeFormat(LOCALE, { timeZone: TZ, month: "short" });
  // Tick labels in the dashboard's zone, 24-hour clock; midnight ticks of a week show the day instead.
  function axisLabel(ts, incr) {
    var d = new Date(ts * 1e3);
    if (VIEW === "year") return monthShort.format(d);
    if (incr >= 86400) return dayMonth.format(d);
    var time = hm.format(d);
    if (VIEW !== "day" && time === "00:00") return dayShort.format(d);
    return time;
  }
  // What one bar covers: "08:15–08:30" (day), "Tue 1 Dec, 08:00–12:00" (week), "Tue 1 Dec" (month); Intl writes a
  // date and a time with a comma between them in all four languages.
  function bucketLabel(b) {
    var start = new Date(b.start), end = new Date(b.end);
    if (VIEW === "year") return monthYear.format(start);
    if (VIEW === "month") return weekdayDayMonth.format(start);
    var span = hm.format(start) + "\u2013" + hm.format(end);
    return VIEW === "week" ? weekdayDayMonth.format(start) + ", " + span : span;
  }
  function flags(b) {
    var out = [];
    if (b.so_far) out.push(gettext("so far"));
    if (b.estimated) out.push(gettext("estimated"));
    if (b.reset) out.push(gettext("register reset"));
    if (b.source === "fluvius") out.push(gettext("from Mijn Fluvius"));
    else if (b.source === "mixed") out.push(gettext("partly from Mijn Fluvius"));
    if (b.missing_days) out.push(text(ngettext("%(days)s day without data", "%(days)s days without data", b.missing_days), { days: b.missing_days }));
    return out;
  }
  // A tooltip's title: the bucket, then what is special about it ("Tue 1 Dec, 00:00–04:00 · so far").
  function tipTitle(b, notes) {
    var period = bucketLabel(b);
    return notes.length ? text(gettext("%(period)s · %(notes)s"), { period: period, notes: notes.join(", ") }) : period;
  }
  // One tooltip row: "Import: 944 W average · 0.236 kWh".
  function tipRow(label, value) { return text(gettext("%(label)s: %(value)s"), { label: label, value: value }); }

  function baseOptions(el, series, unit, halfBucket) {
    return {
      width: chartWidth(el),
      height: chartHeight(el),
      tzDate: tzDate,
      cursor: { points: { show: false } },
      // Values show in the tooltip; a static legend does not jump around (or wrap differently) as the cursor moves.
      legend: { live: false },
      // Half a bucket of room on either side, so the first and last bars are not cut in half.
      scales: {
        x: { time: true, range: function (u, min, max) { return [min - halfBucket, max + halfBucket]; } },
        y: { range: yRange(unit) },
      },
      axes: [
        {
          stroke: COLORS.axis,
          font: AXIS_FONT,
          grid: { stroke: COLORS.grid },
          ticks: { stroke: COLORS.tick },
          values: function (u, splits, axisIdx, space, incr) { return splits.map(function (ts) { return axisLabel(ts, incr); }); },
        },
        {
          stroke: COLORS.axis,
          font: AXIS_FONT,
          grid: { stroke: COLORS.grid },
          ticks: { stroke: COLORS.tick },
          incrs: unit.incrs,
          size: function (u, values) { return Math.ceil(labelWidth(values)) + 20; },
          values: function (u, vals) {
            var labels = vals.map(unit.format);
            el.dataset.yTicks = labels.join("|"); // what the axis reads, for tests and debugging
            return labels;
          },
        },
      ],
      series: [{}].concat(series),
    };
  }
  function chartWidth(el) { return Math.max(el.clientWidth, 200); }
  function chartHeight(el) { return Number(el.dataset.chartHeight) || 256; }

  function only(buckets, key, test) {
    return buckets.map(function (b) { return test(b) ? b[key] : null; });
  }
  function constant(buckets, value) { return buckets.map(function () { return value; }); }
  function measured(b) { return !b.so_far && !b.estimated; }
  function soFar(b) { return !!b.so_far; }
  function estimatedOnly(b) { return !b.so_far && !!b.estimated; }

  // One text for every chart without data, kept in the page (<template id="chart-empty">).
  function showEmpty(el) {
    var tpl = document.getElementById("chart-empty");
    el.replaceChildren(tpl ? tpl.content.cloneNode(true) : document.createElement("p"));
    el.removeAttribute("tabindex");
  }

  // --- Text alternative: a summary sentence and a table of the same buckets, under the chart ------------------
  // The sentence names the highest bucket: "Highest quarter-hour 4.43 kW on Fri 6 Nov at 18:30".
  function highest(buckets, value, format) {
    var best = null;
    buckets.forEach(function (b) {
      var v = value(b);
      if (v != null && (best == null || v > value(best))) best = b;
    });
    if (best == null) return "";
    var start = new Date(best.start), values = { bucket: BUCKET, value: format(best), day: weekdayDayMonth.format(start), time: hm.format(start), month: monthYear.format(start) };
    if (VIEW === "year") return text(gettext("Highest %(bucket)s %(value)s in %(month)s"), values);
    return VIEW === "month"
      ? text(gettext("Highest %(bucket)s %(value)s on %(day)s"), values)
      : text(gettext("Highest %(bucket)s %(value)s on %(day)s at %(time)s"), values);
  }
  // columns: [{ label, value(bucket) -> text }]; a "Note" column when a bucket is estimated, running or reset.
  function describeInText(el, caption, summary, buckets, columns, notes) {
    var figure = el.closest("figure");
    if (!figure) return;
    var summaryEl = figure.querySelector("[data-chart-summary]"), slot = figure.querySelector("[data-chart-table]");
    if (summaryEl) summaryEl.textContent = summary;
    if (!slot) return;
    var withNotes = buckets.some(function (b) { return notes(b).length; });
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
    [gettext("Period")].concat(columns.map(function (c) { return c.label; }), withNotes ? [gettext("Note")] : []).forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "py-1 pr-3 font-semibold";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    body.className = "divide-y divide-slate-100";
    buckets.forEach(function (b) {
      var row = body.insertRow(), th = document.createElement("th");
      th.scope = "row";
      th.className = "py-1 pr-3 font-normal";
      th.textContent = bucketLabel(b);
      row.appendChild(th);
      columns.forEach(function (c) { var td = row.insertCell(); td.className = "py-1 pr-3"; td.textContent = c.value(b); });
      if (withNotes) { var td = row.insertCell(); td.className = "py-1"; td.textContent = notes(b).join(", "); }
    });
    wrap.appendChild(table);
    details.appendChild(wrap);
    slot.replaceChildren(details);
  }
  function clearText(el) {
    var figure = el.closest("figure");
    if (!figure) return;
    figure.querySelectorAll("[data-chart-summary], [data-chart-table], [data-chart-live]").forEach(function (n) { n.replaceChildren(); });
  }

  // --- Tooltip: hover (mouse), tap (touch) or arrow keys (focus) show the values of one bucket ------------------
  function attachTip(u, el, xs, describe) {
    var tip = document.createElement("div");
    tip.className = "pointer-events-none absolute left-0 top-0 z-10 max-w-[16rem] rounded-md bg-slate-900/90 px-2 py-1 text-xs leading-snug text-white shadow-lg tabular-nums";
    tip.setAttribute("data-chart-tip", "");
    // Screen readers hear the values from the chart's live line (below), which stays in the page while the
    // tooltip comes and goes.
    tip.setAttribute("aria-hidden", "true");
    tip.hidden = true;
    el.appendChild(tip);
    var figure = el.closest("figure"), live = figure && figure.querySelector("[data-chart-live]");

    function place(idx) {
      if (idx == null || idx < 0 || idx >= xs.length) { tip.hidden = true; return; }
      var d = describe(idx);
      tip.replaceChildren();
      var title = document.createElement("div");
      title.className = "font-semibold";
      title.textContent = d.title;
      tip.appendChild(title);
      d.rows.forEach(function (row) {
        var line = document.createElement("div");
        line.textContent = row;
        tip.appendChild(line);
      });
      tip.hidden = false;
      if (live && document.activeElement === el) live.textContent = [d.title].concat(d.rows).join(". ");
      var over = u.over.getBoundingClientRect(), box = el.getBoundingClientRect();
      var x = over.left - box.left + u.valToPos(xs[idx], "x");
      var left = Math.min(Math.max(0, x - tip.offsetWidth / 2), el.clientWidth - tip.offsetWidth);
      tip.style.transform = "translate(" + Math.round(left) + "px, " + Math.round(over.top - box.top + 4) + "px)";
    }
    u.hooks.setCursor = (u.hooks.setCursor || []).concat(function (u) { place(u.cursor.idx); });
    if (u.cursor.idx != null) place(u.cursor.idx);

    // A tap: touch browsers also send compatibility mouse events, but not all of them move uPlot's cursor.
    u.over.addEventListener("pointerdown", function (e) {
      if (e.pointerType === "mouse") return;
      var r = u.over.getBoundingClientRect();
      u.setCursor({ left: e.clientX - r.left, top: e.clientY - r.top });
    });
    // Keyboard: the chart is focusable; ← → step through the buckets, Home/End jump, Escape hides the values.
    el.tabIndex = 0;
    var current = null;
    function go(idx) {
      current = Math.min(Math.max(idx, 0), xs.length - 1);
      u.setCursor({ left: u.valToPos(xs[current], "x"), top: u.over.clientHeight / 2 });
    }
    el.addEventListener("keydown", function (e) {
      var start = current == null ? (u.cursor.idx == null ? -1 : u.cursor.idx) : current;
      if (e.key === "ArrowRight") go(start < 0 ? 0 : start + 1);
      else if (e.key === "ArrowLeft") go(start < 0 ? xs.length - 1 : start - 1);
      else if (e.key === "Home") go(0);
      else if (e.key === "End") go(xs.length - 1);
      else if (e.key === "Escape") { current = null; u.setCursor({ left: -10, top: -10 }); }
      else return;
      e.preventDefault();
    });
    el.addEventListener("blur", function () { current = null; u.setCursor({ left: -10, top: -10 }); });
  }

  var charts = [], halfBucket = 0;
  // text: { caption, summary, buckets, columns, notes } for the summary sentence and the table (describeInText).
  function draw(name, series, data, unit, describe, alt) {
    var el = root.querySelector('[data-chart="' + name + '"]');
    if (!el) return;
    el.replaceChildren();
    clearText(el);
    var hasValue = data.slice(1).some(function (s) { return s.some(function (v) { return v != null; }); });
    if (!hasValue) { showEmpty(el); return; }
    if (alt) describeInText(el, alt.caption, alt.summary, alt.buckets, alt.columns, alt.notes);
    var chart = new uPlot(baseOptions(el, series, unit, halfBucket), data, el);
    // Legend markers of hatched series get the same stripes (the canvas pattern cannot be a CSS background).
    var rows = chart.root.querySelectorAll(".u-legend .u-series"), skip = rows.length - series.length; // x row if any
    series.forEach(function (s, i) {
      var marker = s.hatched && rows[i + skip] && rows[i + skip].querySelector(".u-marker");
      if (marker) marker.style.background = "repeating-linear-gradient(135deg, " + rgba(s.hatched, 0.9) + " 0 2px, " + rgba(s.hatched, 0.18) + " 2px 5px)";
      var dots = s.dotted && rows[i + skip] && rows[i + skip].querySelector(".u-marker");
      if (dots) dots.style.background = "radial-gradient(circle, rgba(255, 255, 255, 0.9) 1px, transparent 1.5px) 0 0 / 5px 5px, " + rgba(s.dotted, 0.85);
    });
    attachTip(chart, el, data[0], describe);
    charts.push({ chart: chart, el: el });
    if (resizer) resizer.observe(el);
  }

  // The other period of a comparison (JSON "compare"): its buckets lined up with the shown ones, null where none.
  function compareLabel(cmp) { return cmp.mode === "year" ? gettext("A year before") : gettext("Previous period"); }
  function powerChart(buckets, key, power_, label, rgb, cmp) {
    var avg = power_[key + "_avg_w"], max = power_[key + "_max_w"], field = key + "_w";
    var solid = rgba(rgb, 0.75);
    var series = [
      { label: label, stroke: "rgb(" + rgb + ")", fill: solid, paths: bars(), points: { show: false } },
      { label: gettext("Estimated"), stroke: "rgb(" + RGB.estimated + ")", fill: dotted(RGB.estimated), dotted: RGB.estimated, paths: bars(), points: { show: false } },
      { label: gettext("So far"), stroke: "rgb(" + rgb + ")", fill: hatch(rgb), hatched: rgb, paths: bars(), points: { show: false } },
      { label: text(gettext("Average %(power)s"), { power: power(avg) }), stroke: COLORS.avg, width: 1.5, dash: [6, 4], points: { show: false } },
      { label: text(gettext("Maximum %(power)s"), { power: power(max) }), stroke: COLORS.max, width: 1.5, dash: [2, 3], points: { show: false } },
    ];
    var data = [
      null,
      only(buckets, field, measured),
      only(buckets, field, estimatedOnly),
      only(buckets, field, soFar),
      constant(buckets, avg),
      constant(buckets, max),
    ];
    var other = cmp ? cmp.buckets : null;
    if (other) {
      // A line, not bars: the shown period stays the bars, the other one is drawn over them (dashes and dots).
      series.push({ label: compareLabel(cmp), stroke: COLORS.max, width: 2, dash: [8, 4], points: { size: 5, show: fewPoints }, spanGaps: false, compare: true });
      data.push(other.map(function (o) { return o ? o[field] : null; }));
    }
    // Legend entries only for what is on this chart.
    for (var i = 2; i >= 1; i--) {
      if (!data[i + 1].some(function (v) { return v != null; })) { series.splice(i, 1); data.splice(i + 1, 1); }
    }
    function otherValue(o) {
      return o == null || o[field] == null ? gettext("no data") : text(gettext("%(power)s average · %(energy)s"), { power: power(o[field]), energy: kwh(o[key + "_kwh"]) });
    }
    function describe(idx) {
      var b = buckets[idx];
      var value = b[field] == null ? gettext("no data") : text(gettext("%(power)s average · %(energy)s"), { power: power(b[field]), energy: kwh(b[key + "_kwh"]) });
      var rows = [tipRow(label, value)];
      if (other) rows.push(tipRow(compareLabel(cmp), otherValue(other[idx])));
      return { title: tipTitle(b, flags(b)), rows: rows };
    }
    var alt = {
      caption: label,
      summary: highest(buckets, function (b) { return b[field]; }, function (b) { return power(b[field]); }),
      buckets: buckets,
      columns: [
        { label: gettext("Average power"), value: function (b) { return power(b[field]); } },
        { label: gettext("Energy"), value: function (b) { return kwh(b[key + "_kwh"]); } },
      ].concat(other ? [{ label: compareLabel(cmp), value: function (b) { var o = other[buckets.indexOf(b)]; return o ? kwh(o[key + "_kwh"]) : DASH; } }] : []),
      notes: flags,
    };
    return { series: series, data: data, describe: describe, alt: alt };
  }

  // Dots on a line only when they fit (8 px each): a lone value, such as the first quarter of a day, stays visible.
  function fewPoints(u, si) {
    var n = u.data[si].filter(function (v) { return v != null; }).length;
    return n * 8 <= u.bbox.width / (uPlot.pxRatio || 1);
  }

  // Per-bar fill for charts whose series are not split by kind: the running bucket is hatched.
  function perBar(buckets, rgb) {
    var solid = rgba(rgb, 0.85), line = "rgb(" + rgb + ")";
    return {
      fill: { unit: 3, values: function () { return buckets.map(function (b) { return b.so_far ? hatch(rgb) : solid; }); } },
      stroke: { unit: 3, values: function () { return buckets.map(function () { return line; }); } },
    };
  }

  function render(json) {
    readColors();
    charts.forEach(function (c) { c.chart.destroy(); if (resizer) resizer.unobserve(c.el); });
    charts = [];
    var buckets = json.buckets;
    var xs = buckets.map(function (b) { return Date.parse(b.start) / 1000; });
    halfBucket = buckets.length ? (Date.parse(buckets[0].end) - Date.parse(buckets[0].start)) / 2000 : 0;

    [["import", gettext("Import")], ["export", gettext("Export")]].forEach(function (c) {
      var chart = powerChart(buckets, c[0], json.power, c[1], RGB[c[0]], json.compare);
      chart.data[0] = xs;
      draw(c[0], chart.series, chart.data, UNITS.W, chart.describe, chart.alt);
    });

    var phaseSeries = [], phaseData = [xs], phaseIdx = [];
    for (var p = 0; p < 3; p++) {
      var values = buckets.map(function (b) { return b.load_w ? b.load_w[p] : null; });
      if (values.some(function (v) { return v != null; })) {
        // L1, L2, L3: the phases' names on every meter, in every language.
        // Each phase its own dash as well as its own colour.
        phaseSeries.push({ label: "L" + (p + 1), stroke: COLORS.phases[p], width: 1.5, dash: [[], [6, 3], [2, 2]][p], points: { size: 5, show: fewPoints }, spanGaps: false });
        phaseData.push(values);
        phaseIdx.push(p);
      }
    }
    function phaseLoad(b, p) { return b.load_w ? b.load_w[p] : null; }
    function topPhase(b) {
      var top = null;
      phaseIdx.forEach(function (p) { if (phaseLoad(b, p) != null && (top == null || phaseLoad(b, p) > phaseLoad(b, top))) top = p; });
      return top;
    }
    draw("phases", phaseSeries, phaseData, UNITS.W, function (idx) {
      var b = buckets[idx];
      return {
        title: tipTitle(b, flags(b)),
        rows: phaseIdx.map(function (p) { return tipRow("L" + (p + 1), power(b.load_w[p])); }),
      };
    }, {
      caption: gettext("Load per phase"),
      summary: highest(
        buckets,
        function (b) { var p = topPhase(b); return p == null ? null : phaseLoad(b, p); },
        function (b) { var p = topPhase(b); return "L" + (p + 1) + " " + power(phaseLoad(b, p)); }
      ),
      buckets: buckets,
      columns: phaseIdx.map(function (p) { return { label: "L" + (p + 1), value: function (b) { return power(phaseLoad(b, p)); } }; }),
      notes: flags,
    });

    draw(
      "daynight",
      [
        { label: gettext("Day tariff"), stroke: "rgb(" + RGB.day + ")", fill: rgba(RGB.day, 0.85), paths: bars({ size: [0.4, 30], gap: 0, align: -1, disp: perBar(buckets, RGB.day) }), points: { show: false } },
        { label: gettext("Night tariff"), stroke: "rgb(" + RGB.night + ")", fill: rgba(RGB.night, 0.85), paths: bars({ size: [0.4, 30], gap: 0, align: 1, disp: perBar(buckets, RGB.night) }), points: { show: false } },
      ],
      [xs, buckets.map(function (b) { return b.import_day_kwh; }), buckets.map(function (b) { return b.import_night_kwh; })],
      UNITS.kWh,
      function (idx) {
        var b = buckets[idx];
        return {
          title: tipTitle(b, flags(b)),
          rows: [tipRow(gettext("Day tariff"), kwh(b.import_day_kwh)), tipRow(gettext("Night tariff"), kwh(b.import_night_kwh))],
        };
      },
      {
        caption: gettext("Day / night tariff"),
        summary: text(gettext("In all: day tariff %(day)s, night tariff %(night)s."), {
          day: kwh(sum(buckets, "import_day_kwh")),
          night: kwh(sum(buckets, "import_night_kwh")),
        }),
        buckets: buckets,
        columns: [
          { label: gettext("Day tariff"), value: function (b) { return kwh(b.import_day_kwh); } },
          { label: gettext("Night tariff"), value: function (b) { return kwh(b.import_night_kwh); } },
        ],
        notes: flags,
      }
    );

    if (json.capacity_months) capacityChart(buckets, xs, json.capacity_months);

    // No gas meter (or no gas reading in this period): no gas chart, on every view.
    var gasCard = root.querySelector('[data-chart-card="gas"]');
    if (json.has_gas) {
      draw(
        "gas",
        [{ label: gettext("Gas"), stroke: "rgb(" + RGB.gas + ")", fill: rgba(RGB.gas, 0.85), paths: bars({ disp: perBar(buckets, RGB.gas) }), points: { show: false } }],
        [xs, buckets.map(function (b) { return b.gas_m3; })],
        UNITS.m3,
        function (idx) {
          var b = buckets[idx], f = b.gas_estimated ? [gettext("estimated")] : [];
          if (b.so_far) f.unshift(gettext("so far"));
          return { title: tipTitle(b, f), rows: [tipRow(gettext("Gas"), m3(b.gas_m3))] };
        },
        {
          caption: gettext("Gas"),
          summary: highest(buckets, function (b) { return b.gas_m3; }, function (b) { return m3(b.gas_m3); }),
          buckets: buckets,
          columns: [{ label: gettext("Gas"), value: function (b) { return m3(b.gas_m3); } }],
          notes: function (b) { var f = b.gas_estimated ? [gettext("estimated")] : []; if (b.so_far) f.unshift(gettext("so far")); return f; },
        }
      );
    } else if (gasCard) {
      gasCard.remove();
    }
    root.dataset.chartsReady = "true";
  }

  // Year view: each month's capacity peak (bars) and the 12-month mean up to it (a dashed line), in W like the
  // power charts.
  function capacityChart(buckets, xs, months) {
    function w(v) { return v == null ? null : v * 1000; }
    var peakLabel = gettext("Month peak"), meanLabel = gettext("12-month mean");
    draw(
      "capacity",
      [
        { label: peakLabel, stroke: "rgb(" + RGB.import + ")", fill: rgba(RGB.import, 0.75), paths: bars(), points: { show: false } },
        { label: meanLabel, stroke: COLORS.avg, width: 2, dash: [6, 4], points: { size: 5, show: fewPoints }, spanGaps: false },
      ],
      [xs, months.map(function (m) { return w(m.peak_kw); }), months.map(function (m) { return w(m.mean_12m_kw); })],
      UNITS.W,
      function (idx) {
        var m = months[idx];
        return { title: bucketLabel(buckets[idx]), rows: [tipRow(peakLabel, power(w(m.peak_kw))), tipRow(meanLabel, power(w(m.mean_12m_kw)))] };
      },
      {
        caption: gettext("Capacity peak per month"),
        summary: highest(buckets, function (b) { return months[buckets.indexOf(b)].peak_kw; }, function (b) { return power(w(months[buckets.indexOf(b)].peak_kw)); }),
        buckets: buckets,
        columns: [
          { label: peakLabel, value: function (b) { return power(w(months[buckets.indexOf(b)].peak_kw)); } },
          { label: meanLabel, value: function (b) { return power(w(months[buckets.indexOf(b)].mean_12m_kw)); } },
        ],
        notes: function () { return []; },
      }
    );
  }

  function sum(buckets, key) {
    var values = buckets.map(function (b) { return b[key]; }).filter(function (v) { return v != null; });
    return values.length ? values.reduce(function (a, v) { return a + v; }, 0) : null;
  }

  function fail(message) {
    var box = document.getElementById("chart-error");
    if (box) { box.textContent = message; box.classList.remove("hidden"); }
    root.dataset.chartsReady = "error";
  }

  // The page embeds the series it was rendered from (json_script), so cards and charts show the same numbers.
  var seriesData = null;
  function renderOrFail() {
    try {
      seriesData = seriesData || JSON.parse(document.getElementById("series-data").textContent);
      render(seriesData);
    } catch (err) {
      fail(text(gettext("The charts could not be drawn: %(error)s"), { error: err.message || String(err) }));
    }
  }
  renderOrFail();
  // An automatic scheme follows the device: when it turns dark or light, draw the charts in the other colours.
  if (window.matchMedia && document.documentElement.dataset.theme === "auto") {
    var darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", renderOrFail);
  }

  // Follow the card's width (window resize, phone rotation, a scrollbar appearing); height changes are the legend's.
  function fit() {
    charts.forEach(function (c) {
      var w = chartWidth(c.el);
      if (w !== c.chart.width) c.chart.setSize({ width: w, height: chartHeight(c.el) });
    });
  }
  var resizeTimer = null;
  function fitSoon() { clearTimeout(resizeTimer); resizeTimer = setTimeout(fit, 100); }
  var resizer = typeof ResizeObserver === "function" ? new ResizeObserver(fitSoon) : null;
  if (!resizer) window.addEventListener("resize", fitSoon);

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
          throw new Error(gettext("Not logged in to Qlik"));
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
      .catch(function (err) { fail(text(gettext("Qlik: %(error)s"), { error: err.message || String(err) })); });
  }
})();
