// The preview page, live: each server-sent event names the variants whose email changed.
// This page fetches only its own variant's email, when it changed, and swaps it into both
// frames in place, keeping each frame's scroll position; the inbox row, the problems and the
// text part are swapped from a fresh copy of this page. The frames run no script (sandbox
// without allow-scripts, and the email's own CSP); they keep our origin only so that this
// script may reach their documents. A failed render, a new set of variants or anything
// unexpected reloads the whole page, which then shows the problems.
"use strict";
(function () {
  var main = document.querySelector("main");
  if (!main) { return; }
  var variant = main.getAttribute("data-variant");
  var queue = Promise.resolve();

  function fetchText(url) {
    return fetch(url, { cache: "no-store" }).then(function (response) {
      if (!response.ok) { throw new Error(url + ": " + response.status); }
      return response.text();
    });
  }

  function swapFrame(frame, html) {
    var doc = frame.contentDocument;
    var win = frame.contentWindow;
    if (!doc || !doc.documentElement || !win) { frame.src = frame.getAttribute("src"); return; }
    var x = win.scrollX, y = win.scrollY;
    // Parsed in the frame's document, under the email's CSP (its inline styles are allowed
    // there, not in this page), where no script runs.
    doc.documentElement.innerHTML = html;
    win.scrollTo(x, y);
  }

  function swapFrames() {
    var frames = document.querySelectorAll("iframe.email");
    if (!frames.length) { return Promise.resolve(); }
    return fetchText(frames[0].getAttribute("src")).then(function (html) {
      frames.forEach(function (frame) { swapFrame(frame, html); });
    });
  }

  function swapLive() {
    return fetchText(location.pathname).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html");
      document.querySelectorAll("[data-live]").forEach(function (old) {
        var replacement = fresh.getElementById(old.id);
        if (replacement) { old.replaceWith(document.importNode(replacement, true)); }
      });
    });
  }

  function apply(message) {
    if (message.failed || main.hasAttribute("data-broken") ||
        message.variants.join(" ") !== main.getAttribute("data-variants")) {
      location.reload();
      return Promise.resolve();
    }
    var jobs = [];
    if (variant && message.changed.indexOf(variant) >= 0) { jobs.push(swapFrames()); }
    jobs.push(swapLive());
    return Promise.all(jobs).then(function () {
      main.setAttribute("data-version", String(message.version));
      document.dispatchEvent(new CustomEvent("preview:updated", { detail: message }));
    });
  }

  var events = new EventSource("/events?since=" + main.getAttribute("data-version"));
  events.onmessage = function (event) {
    var message = JSON.parse(event.data);
    queue = queue.then(function () { return apply(message); })
      .catch(function () { location.reload(); });
  };
})();
