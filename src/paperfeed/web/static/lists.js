// Paper lists, enhanced: every page works without this script.
// - The density toggle: compact cards (a one-line teaser, the abstract one click
//   away) or comfortable ones (abstracts open). The choice is a cookie, so the
//   server renders the next page the same way (web/templating.py: density_of).
// - Keyboard: j / k move between papers, o opens the current one, s saves it;
//   not while typing in a field, and not with Ctrl, Alt or Meta held.
// - "Load more": the pager's next-page link is a real link (shareable, works
//   without JavaScript); with it, the next page's cards are appended here and
//   the address becomes the last page loaded.
(function () {
  "use strict";
  var YEAR = 60 * 60 * 24 * 365;

  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("article.paper-card"));
  }

  // ------------------------------------------------------------ density
  function setDensity(density) {
    document.cookie = "density=" + density + "; path=/; max-age=" + YEAR + "; SameSite=Lax";
    var root = document.documentElement;
    root.classList.remove("density-compact", "density-comfortable");
    root.classList.add("density-" + density);
    document.querySelectorAll("details.abstract-details").forEach(function (d) {
      d.open = density === "comfortable";
    });
    document.querySelectorAll("button.density-toggle").forEach(function (b) {
      b.setAttribute("aria-pressed", density === "comfortable" ? "true" : "false");
    });
  }

  function initDensity() {
    document.querySelectorAll("button.density-toggle").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var comfortable = document.documentElement.classList.contains("density-comfortable");
        setDensity(comfortable ? "compact" : "comfortable");
      });
    });
  }

  // ------------------------------------------------------------ keyboard
  var current = -1;

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable]");
  }

  function move(step) {
    var list = cards();
    if (!list.length) return;
    // Start from the card that has focus, if any (the reader may have tabbed).
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("article.paper-card") : null;
    if (focused) current = list.indexOf(focused);
    current = Math.max(0, Math.min(list.length - 1, current + step));
    list.forEach(function (c) { c.classList.remove("is-current"); });
    var card = list[current];
    card.classList.add("is-current");
    var title = card.querySelector(".paper-title a");
    if (title) title.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function currentCard() {
    var list = cards();
    return current >= 0 && current < list.length ? list[current] : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    if (typing(event.target)) return;
    var card;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o":
        card = currentCard();
        if (!card) return;
        var link = card.querySelector(".paper-title a");
        if (link) window.location.href = link.href;
        break;
      case "s":
        card = currentCard();
        if (!card) return;
        var save = card.querySelector(".paper-actions button.save, .paper-actions a.save-signin");
        if (save) save.click();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  // ------------------------------------------------------------ load more
  function initLoadMore() {
    document.addEventListener("click", async function (event) {
      var link = event.target.closest && event.target.closest("a.load-more");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      var list = document.querySelector(".paper-list");
      var pager = link.closest("nav");
      if (!list || !pager) return;
      event.preventDefault();
      link.setAttribute("aria-busy", "true");
      try {
        var response = await fetch(link.href, { credentials: "same-origin" });
        if (!response.ok) throw new Error(String(response.status));
        var page = new DOMParser().parseFromString(await response.text(), "text/html");
        var fresh = page.querySelector(".paper-list");
        if (!fresh) throw new Error("no list");
        var first = null;
        Array.prototype.slice.call(fresh.children).forEach(function (child) {
          var node = document.importNode(child, true);
          if (!first && node.matches && node.matches("article.paper-card")) first = node;
          list.appendChild(node);
        });
        // Keep the document's COinS with its cards, for Zotero.
        page.querySelectorAll("span.Z3988").forEach(function (span) {
          list.parentNode.insertBefore(document.importNode(span, true), pager);
        });
        var nextPager = page.querySelector("nav.pager, nav.pagination");
        if (nextPager) pager.replaceWith(document.importNode(nextPager, true));
        else pager.remove();
        var count = page.querySelector(".list-count, .result-count");
        var here = document.querySelector(".list-count, .result-count");
        if (count && here) here.textContent = count.textContent;
        history.replaceState(null, "", link.href);
        if (window.paperfeedMath) window.paperfeedMath(list);
        if (document.documentElement.classList.contains("density-comfortable")) {
          list.querySelectorAll("details.abstract-details").forEach(function (d) { d.open = true; });
        }
        // Focus moves to the first new paper, so keyboard and screen-reader users continue there.
        var title = first && first.querySelector(".paper-title a");
        if (title) title.focus();
      } catch (err) {
        window.location.href = link.href;
      }
    });
  }

  function init() {
    initDensity();
    initLoadMore();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
