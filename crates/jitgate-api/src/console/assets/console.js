// jitgate console: live sections over server-sent events, grant countdowns, copy buttons and
// the per-resource reason prompt. Served as a file: the pages carry no inline script (CSP).
(function () {
  "use strict";

  function left(ms) {
    if (ms <= 0) return "expired";
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    s = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? h + "h " + pad(m) + "m " + pad(s) + "s left" : m + "m " + pad(s) + "s left";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var ms = parseInt(el.getAttribute("data-until"), 10) - now;
      el.textContent = left(ms);
      el.classList.toggle("expired", ms <= 0);
    });
  }

  // Re-reads the page and swaps the live sections that changed, keeping one being typed in.
  function refresh() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html", "X-Jitgate-Live-Refresh": "1" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { location.reload(); return null; }
        return r.text();
      })
      .then(function (text) {
        if (!text) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          var typing = el.contains(document.activeElement) && document.activeElement.value;
          if (fresh && !typing && fresh.innerHTML !== el.innerHTML) {
            el.replaceWith(document.importNode(fresh, true));
          }
        });
        tick();
      })
      .catch(function () {});
  }

  function follow() {
    if (!document.querySelector("[data-live]") || !window.EventSource) return;
    // The audit page follows every event, statements included; other pages lifecycle changes.
    var url = document.body.getAttribute("data-live-updates");
    if (document.querySelector("[data-live-all]")) url += "?all=true";
    var source = new EventSource(url);
    var pending = null;
    source.addEventListener("change", function () {
      if (pending) return;
      pending = setTimeout(function () { pending = null; refresh(); }, 150);
    });
    source.addEventListener("error", function () {
      // Closed for good (signed out, timed out, server gone): the page tells why.
      if (source.readyState === 2) setTimeout(function () { location.reload(); }, 2000);
    });
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var text = target.textContent;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var range = document.createRange();
      range.selectNodeContents(target);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      if (document.execCommand("copy")) done();
    }
  }

  // The reason prompt and the longest duration follow the chosen resource's rule.
  function prompts(select) {
    var form = select.form, option = select.selectedOptions[0];
    if (!form || !option) return;
    var prompt = form.querySelector(".prompt");
    if (prompt) prompt.textContent = option.getAttribute("data-prompt");
    var max = parseInt(option.getAttribute("data-max"), 10);
    var durations = form.querySelector("select[name=duration_seconds]");
    if (!durations) return;
    Array.prototype.forEach.call(durations.options, function (o) {
      o.hidden = o.disabled = parseInt(o.value, 10) > max;
    });
    if (durations.selectedOptions[0] && durations.selectedOptions[0].disabled) {
      var allowed = Array.prototype.filter.call(durations.options, function (o) { return !o.disabled; });
      if (allowed.length) allowed[allowed.length - 1].selected = true;
    }
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-copy]");
    if (button) copy(button);
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches("select[data-prompts]")) prompts(e.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-prompts]").forEach(prompts);
    tick();
    setInterval(tick, 1000);
    follow();
  });
})();
