/* The composer's small helpers (docs/workspace.md): a tab per chosen channel (arrow keys move
   between tabs, as the ARIA tabs pattern says), a channel's own text starting from the main one,
   thread parts added and removed. The checks and previews are htmx's (the form's input events);
   without this script every chosen channel's panel shows and the form still works. */
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const tabs = Array.from(form.querySelectorAll("[role=tab]"));
  const panel = (tab) => document.getElementById(tab.getAttribute("aria-controls"));
  const chosen = (tab) => {
    const box = document.getElementById("ch-" + tab.dataset.channel);
    return box && box.checked;
  };

  function select(tab, focus) {
    tabs.forEach((other) => {
      const on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      panel(other).hidden = !on;
    });
    if (focus) tab.focus();
  }

  function refreshTabs() {
    let current = tabs.find((tab) => tab.getAttribute("aria-selected") === "true" && chosen(tab));
    tabs.forEach((tab) => { tab.hidden = !chosen(tab); });
    const visible = tabs.filter((tab) => !tab.hidden);
    document.getElementById("per-channel-empty").hidden = visible.length > 0;
    if (!current) current = visible[0];
    if (current) select(current, false);
    else tabs.forEach((tab) => { panel(tab).hidden = true; });
  }

  tabs.forEach((tab) => {
    tab.addEventListener("click", () => select(tab, true));
    tab.addEventListener("keydown", (event) => {
      const visible = tabs.filter((t) => !t.hidden);
      const at = visible.indexOf(tab);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: visible.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(visible[(next + visible.length) % visible.length], true);
    });
  });
  form.querySelectorAll("input[name=channels]").forEach((box) => {
    box.addEventListener("change", () => {
      refreshTabs();
      const tab = document.getElementById("tab-" + box.value);
      if (box.checked && tab) select(tab, false);
    });
  });

  // A channel's own text starts as the main text, to be shortened or reworded.
  form.querySelectorAll(".own-toggle[id$=-own-text]").forEach((toggle) => {
    toggle.addEventListener("change", () => {
      const own = document.getElementById(toggle.id.replace(/-own-text$/, "-content"));
      if (toggle.checked && own && !own.value) own.value = document.getElementById("id_content").value;
      if (toggle.checked && own) own.focus();
    });
  });

  // Thread parts: numbered from 2 (the post itself is the first).
  const parts = document.getElementById("thread-parts");
  function renumber() {
    Array.from(parts.children).forEach((part, index) => {
      const n = index + 2;
      const [textLabel, mediaLabel] = part.querySelectorAll("label");
      const [text, media] = part.querySelectorAll("textarea");
      const errors = part.querySelector(".field-error");
      text.id = "thread-" + index; media.id = "thread-media-" + index; errors.id = "err-thread-" + index;
      text.setAttribute("aria-describedby", errors.id);
      textLabel.htmlFor = text.id; textLabel.textContent = "Part " + n;
      mediaLabel.htmlFor = media.id; mediaLabel.textContent = "Part " + n + "'s images (one link a line)";
      part.querySelector(".remove-part").textContent = "Remove part " + n;
    });
  }
  document.getElementById("add-part").addEventListener("click", () => {
    const template = document.getElementById("part-template");
    parts.appendChild(template.content.cloneNode(true));
    renumber();
    parts.lastElementChild.querySelector("textarea").focus();
  });
  parts.addEventListener("click", (event) => {
    if (!event.target.classList.contains("remove-part")) return;
    const part = event.target.closest(".part");
    const next = part.nextElementSibling || part.previousElementSibling;
    part.remove();
    renumber();
    (next ? next.querySelector("textarea") : document.getElementById("add-part")).focus();
    form.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Leaving with changes not saved asks first: a tab closed by mistake would lose the post.
  let changed = false;
  form.addEventListener("input", () => { changed = true; });
  form.addEventListener("submit", () => { changed = false; });
  window.addEventListener("beforeunload", (event) => {
    if (!changed) return;
    event.preventDefault();
    event.returnValue = "";
  });

  refreshTabs();
})();
