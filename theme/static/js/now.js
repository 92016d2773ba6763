/* The Now page: fetches its figures again every 5 s and counts the age of the data on.
 *
 * The server renders the figures (meters/templates/meters/dashboard/_now_panel.html, meters.presenters.now_panel);
 * this file only asks for that fragment again with If-None-Match and swaps it in on a 200 (a 304 keeps it). The
 * snapshot's age is no part of the fragment, so that it stays the same while the snapshot does: it comes in the
 * X-Live-Age header and is counted on here, second by second. Past data-stale-after seconds the page says the Pi is
 * offline (the server's sentence, rendered hidden). A hidden tab polls nothing; it asks at once when shown again.
 * Texts come from Django's JavaScriptCatalog (/jsi18n/, theme/locale/<lang>/LC_MESSAGES/djangojs.po).
 */
(function () {
  "use strict";

  var root = document.getElementById("now");
  var panel = document.getElementById("now-panel");
  if (!root || !panel || !window.fetch) return;

  var gettext = window.gettext || function (msgid) { return msgid; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\(\w+\)s/g, function (match) { return String(obj[match.slice(2, -2)]); });
  };
  var POLL_MS = 5000;
  var url = root.dataset.panelUrl;
  var staleAfter = parseInt(root.dataset.staleAfter, 10) || 60;
  var announce = document.getElementById("now-announce");
  var etag = null;
  var age = root.dataset.age === "" ? null : parseInt(root.dataset.age, 10);
  var ageAt = Date.now();
  var timer = null;
  var warned = Boolean(panel.querySelector("[data-warning]"));

  function currentAge() {
    return age === null ? null : age + Math.max(0, Math.floor((Date.now() - ageAt) / 1000));
  }

  function ageText(seconds) {
    if (seconds < 60) return interpolate(gettext("%(seconds)s s ago"), { seconds: seconds }, true);
    return interpolate(gettext("%(minutes)s min ago"), { minutes: Math.floor(seconds / 60) }, true);
  }

  function tick() {
    var seconds = currentAge();
    var online = panel.querySelector("[data-online]");
    var offline = panel.querySelector("[data-offline]");
    var text = panel.querySelector("[data-age-text]");
    if (seconds === null || !online || !offline) return;
    var stale = seconds > staleAfter;
    online.hidden = stale;
    offline.hidden = !stale;
    if (text) text.textContent = " · " + ageText(seconds);
  }

  function takeAge(response) {
    var header = response.headers.get("X-Live-Age");
    age = header === null || header === "" ? null : parseInt(header, 10);
    ageAt = Date.now();
  }

  function swap(html) {
    panel.innerHTML = html;
    // Screen readers hear when the quarter starts heading for a new peak, not every refresh of the figures.
    var warning = panel.querySelector("[data-warning]");
    if (announce && Boolean(warning) !== warned) announce.textContent = warning ? warning.textContent.trim() : "";
    warned = Boolean(warning);
  }

  function schedule() {
    clearTimeout(timer);
    timer = document.hidden ? null : setTimeout(poll, POLL_MS);
  }

  function poll() {
    if (document.hidden) { timer = null; return; }
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 304) { takeAge(response); return null; }
        if (!response.ok) return null; // logged out or a server error: keep what is shown, try again later
        etag = response.headers.get("ETag");
        takeAge(response);
        return response.text().then(swap);
      })
      .catch(function () { /* offline: the age keeps counting and the page says so */ })
      .then(function () { tick(); schedule(); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { clearTimeout(timer); timer = null; } else { poll(); }
  });
  setInterval(tick, 1000);
  tick();
  schedule();
})();
