// The recurrence picker: shows the RFC 5545 rule the choices make. The server builds the same
// rule from the same fields, so the form works without this file.
(function () {
  "use strict";
  var form = document.getElementById("meeting-form");
  if (!form) { return; }
  var rule = form.querySelector("[name=rrule]");
  var edited = rule.value !== "";
  rule.addEventListener("input", function () { edited = rule.value !== ""; });
  var order = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
  function build() {
    var freq = form.querySelector("[name=freq]").value;
    if (!freq) { return ""; }
    var parts = ["FREQ=" + freq];
    var interval = parseInt(form.querySelector("[name=interval]").value, 10);
    if (interval > 1) { parts.push("INTERVAL=" + interval); }
    if (freq === "WEEKLY") {
      var days = Array.prototype.filter.call(
        form.querySelectorAll("[name=byday]"), function (b) { return b.checked; }
      ).map(function (b) { return b.value; });
      days.sort(function (a, b) { return order.indexOf(a) - order.indexOf(b); });
      if (days.length) { parts.push("BYDAY=" + days.join(",")); }
    }
    var count = parseInt(form.querySelector("[name=count]").value, 10);
    if (count > 0) { parts.push("COUNT=" + count); }
    return parts.join(";");
  }
  function update() {
    if (!edited) { rule.value = build(); }
    var weekly = form.querySelector("[name=freq]").value === "WEEKLY";
    form.querySelectorAll(".weekdays").forEach(function (el) { el.hidden = !weekly; });
  }
  form.addEventListener("change", function (event) {
    if (event.target !== rule) { update(); }
  });
  form.addEventListener("input", function (event) {
    if (event.target !== rule && event.target.name !== "title") { update(); }
  });
  update();
})();
