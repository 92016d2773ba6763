/* Every page: the header's language and colour-scheme switchers send themselves when a choice is picked (their
 * buttons stay for keyboards and for browsers without scripts), and a form sent back with errors gets the focus on
 * its first error, so a keyboard or screen-reader user lands where the fix is (the error is tied to its field by
 * aria-describedby: theme.forms.StyledFormMixin). Code blocks take the focus so that a keyboard can scroll them. */
(function () {
  "use strict";
  document.querySelectorAll("[data-submit-on-change]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Code blocks scroll sideways on a phone: focusable, so that a keyboard can scroll them too (WCAG 2.1.1).
  document.querySelectorAll("main pre:not([tabindex])").forEach(function (el) { el.tabIndex = 0; });

  // The first field marked invalid, or a form's own error box (errors that belong to no one field), in page order.
  var first = document.querySelector('main form [aria-invalid="true"], main form [role="alert"]');
  if (first) {
    if (first.getAttribute("role") === "alert" && !first.hasAttribute("tabindex")) first.setAttribute("tabindex", "-1");
    first.focus();
  }
})();
