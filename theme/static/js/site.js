/* Every page: the header's language switcher sends itself when a language is picked (its button stays for
 * keyboards and for browsers without scripts). */
(function () {
  "use strict";
  document.querySelectorAll("[data-submit-on-change]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
})();
