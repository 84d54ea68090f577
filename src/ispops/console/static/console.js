// The console's own script: CSRF header for htmx, confirmations, the phone menu. No inline scripts
// anywhere (the Content-Security-Policy allows scripts from /console/static only).
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });
  // <form data-confirm="Delete this?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // <select data-autosubmit>: submit its form when changed (filters).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });
  function fitMenu() {
    var menu = document.getElementById("menu");
    if (menu && window.matchMedia("(max-width: 800px)").matches) { menu.removeAttribute("open"); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", fitMenu); } else { fitMenu(); }
})();
