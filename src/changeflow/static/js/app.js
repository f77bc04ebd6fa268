// changeflow: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
      el.form.submit();
    }
  });
  // Actions that end or reverse something ask once more.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
  // A panel that answers a refused or invalid form with itself (an error message, a 4xx status)
  // opts in with data-swap-errors: htmx swaps only 2xx answers by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.elt;
    if (status >= 400 && status < 500 && elt.closest && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // The CR list's bulk bar: shown once a row is ticked, with only the field its operation
  // needs; the page's checkbox ticks every row. Without this the bar is a plain form.
  function bulkSync() {
    var bar = document.querySelector("[data-bulk-bar]");
    if (!bar) {
      return;
    }
    var rows = document.querySelectorAll("input[data-bulk-row]");
    var ticked = 0;
    rows.forEach(function (box) {
      if (box.checked) {
        ticked += 1;
      }
    });
    var page = document.querySelector("input[data-bulk-page]");
    if (page) {
      page.checked = rows.length > 0 && ticked === rows.length;
      page.indeterminate = ticked > 0 && ticked < rows.length;
    }
    bar.classList.toggle("bulk-idle", ticked === 0);
    var count = bar.querySelector("[data-bulk-count]");
    if (count) {
      count.textContent = "(" + ticked + ")";
    }
    var op = bar.querySelector("[data-bulk-operation]");
    var kind = op && op.value.indexOf("action:") === 0 ? "action" : op ? op.value : "";
    bar.querySelectorAll("[data-bulk-for]").forEach(function (label) {
      label.hidden = label.getAttribute("data-bulk-for").split(" ").indexOf(kind) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches) {
      return;
    }
    if (el.matches("input[data-bulk-page]")) {
      // Ticking the page ticks every row (then only the rows are sent).
      document.querySelectorAll("input[data-bulk-row]").forEach(function (box) {
        box.checked = el.checked;
      });
    }
    if (el.matches("input[data-bulk-page], input[data-bulk-row], [data-bulk-operation]")) {
      bulkSync();
    }
  });
  document.addEventListener("DOMContentLoaded", bulkSync);
  document.addEventListener("htmx:afterSettle", bulkSync);
})();
