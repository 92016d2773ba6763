/* "Import history from Mijn Fluvius": posts the upload form with a progress bar.
 *
 * Without this file the form is a plain multipart POST and the server answers with the page (after a redirect). With
 * it, the same form is sent by XMLHttpRequest (the CSRF token travels in the form data) so that upload.onprogress can
 * move the <progress>; once the file is up the bar shows "importing" until the server answers, and the page it
 * answers with (the redirect followed) replaces this one's content, messages included. Texts come from Django's
 * JavaScriptCatalog (/jsi18n/).
 */
(function () {
  "use strict";

  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
  var gettext = window.gettext || function (msgid) { return msgid; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\(\w+\)s/g, function (match) { return String(obj[match.slice(2, -2)]); });
  };

  function bind() {
    var form = document.querySelector("[data-fluvius-form]");
    if (form) form.addEventListener("submit", function (event) { send(form, event); });
  }

  function send(form, event) {
    var input = form.querySelector("input[type=file]");
    if (!input || !input.files || !input.files.length) return; // the server says what is missing
    event.preventDefault();
    var box = form.querySelector("[data-fluvius-progress]");
    var bar = box.querySelector("progress");
    var status = box.querySelector("[data-fluvius-status]");
    var button = form.querySelector("button[type=submit]");
    box.classList.remove("hidden");
    button.disabled = true;
    bar.value = 0;

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action") || window.location.href);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      var pct = Math.round((100 * e.loaded) / e.total);
      bar.value = pct;
      status.textContent = interpolate(gettext("Uploading… %(percent)s %"), { percent: pct }, true);
    };
    xhr.upload.onload = function () {
      bar.removeAttribute("value"); // indeterminate while the server imports
      status.textContent = gettext("Importing… this takes a few seconds for three years of quarter-hours.");
    };
    xhr.onload = function () {
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var main = document.querySelector("main");
      var next = page.querySelector("main");
      if (main && next) {
        // The site's messages ("N rows read ...") sit just before <main>: take the new page's along.
        var note = main.previousElementSibling;
        if (note && note.getAttribute("role") === "status") note.remove();
        var newNote = next.previousElementSibling;
        if (newNote && newNote.getAttribute("role") === "status") main.before(newNote);
        main.replaceWith(next);
        if (xhr.responseURL) window.history.replaceState(null, "", xhr.responseURL);
        var heading = document.querySelector("main h1");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
        bind(); // the new content's form
      } else {
        form.submit();
      }
    };
    xhr.onerror = function () {
      status.textContent = gettext("The upload failed. Check your connection and try again.");
      button.disabled = false;
    };
    xhr.send(new FormData(form));
  }

  bind();
})();
