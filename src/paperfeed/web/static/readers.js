// Reader actions in place: the forms in _paper_actions.html work without
// JavaScript (POST, then redirect back); with it, they are sent with fetch and
// the server's re-rendered actions replace the old ones.
(function () {
  "use strict";
  document.addEventListener("submit", async function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("action-form")) return;
    const box = form.closest(".paper-actions");
    if (!box) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) {
        form.submit(); // let the server's error page explain
        return;
      }
      const state = await response.json();
      const holder = document.createElement("div");
      holder.innerHTML = state.html; // rendered by Jinja2 with autoescaping
      const fresh = holder.firstElementChild;
      if (fresh) {
        // Keep keyboard focus on the same control after the swap.
        const index = Array.from(box.querySelectorAll("form")).indexOf(form);
        const wasOpen = Array.from(box.querySelectorAll("details")).map((d) => d.open);
        box.replaceWith(fresh);
        fresh.querySelectorAll("details").forEach((d, i) => { d.open = !!wasOpen[i]; });
        const forms = fresh.querySelectorAll("form");
        const target = forms[index] ? forms[index].querySelector("button") : null;
        if (target) target.focus();
      }
    } catch (err) {
      form.submit();
    }
  });
})();
