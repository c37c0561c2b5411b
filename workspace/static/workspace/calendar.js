/* The calendar's drag and drop (workspace/calendar.py): a scheduled post's card is dragged with
   the mouse, a pen or a finger (pointer events, so touch works and a test's mouse does too) and
   dropped on a day (month: it keeps its time) or an hour (week, day); the move is POSTed through
   htmx and the calendar comes back as the server has it: a refused move leaves the card where it
   was, with the reason. Everything here can be done without it: each card's Move form. */
(function () {
  "use strict";
  var THRESHOLD = 6; // pixels moved before a press becomes a drag (a click stays a click)
  var drag = null;

  function calendar() { return document.getElementById("calendar"); }

  function dropCell(x, y) {
    var element = document.elementFromPoint(x, y);
    return element ? element.closest("[data-drop-date]") : null;
  }

  function mark(cell) {
    if (drag.over === cell) return;
    if (drag.over) drag.over.classList.remove("drop-target");
    drag.over = cell;
    if (cell) {
      cell.classList.add("drop-target");
      announce("Drop on " + cell.dataset.dropLabel);
    }
  }

  function announce(text) {
    var live = document.getElementById("calendar-live");
    if (live) live.textContent = text;
  }

  function reset() {
    if (!drag) return;
    if (drag.over) drag.over.classList.remove("drop-target");
    drag.card.classList.remove("dragging");
    drag.card.style.transform = "";
    drag = null;
  }

  document.addEventListener("pointerdown", function (event) {
    var card = event.target.closest(".card[data-post]");
    if (!card || event.button !== 0) return;
    if (event.target.closest("input, button, select, textarea, summary, label, details.move")) return;
    drag = { card: card, x: event.clientX, y: event.clientY, moving: false, over: null };
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moving) {
      if (Math.abs(dx) + Math.abs(dy) < THRESHOLD) return;
      drag.moving = true;
      drag.card.classList.add("dragging");
    }
    event.preventDefault();
    drag.card.style.transform = "translate(" + dx + "px, " + dy + "px)";
    mark(dropCell(event.clientX, event.clientY));
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var moving = drag.moving, card = drag.card, cell = drag.moving ? dropCell(event.clientX, event.clientY) : null;
    reset();
    if (!moving) return;
    // A drag is not a click: the card's link is not followed.
    card.addEventListener("click", function (e) { e.preventDefault(); }, { once: true, capture: true });
    if (!cell) return;
    var time = cell.dataset.dropTime ? cell.dataset.dropTime : card.dataset.time;
    if (cell.dataset.dropDate === card.dataset.date && time === card.dataset.time) return;
    var root = calendar();
    var token = card.querySelector("input[name=csrfmiddlewaretoken]");
    announce("Moving post #" + card.dataset.post + " to " + cell.dataset.dropLabel);
    htmx.ajax("POST", root.dataset.moveUrl, {
      target: "#calendar",
      swap: "outerHTML",
      source: card,
      values: {
        post: card.dataset.post,
        date: cell.dataset.dropDate,
        time: time,
        back: root.dataset.back,
        csrfmiddlewaretoken: token ? token.value : ""
      }
    });
  });

  document.addEventListener("pointercancel", reset);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") reset(); });

  // A Move form fetched into its card: its first field takes the focus (the keyboard's way on).
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target.classList.contains("move-slot")) return;
    var field = event.detail.target.querySelector("input[type=date]");
    if (field) field.focus();
  });

  // After a move, the moved post's card (where the server put it) takes the focus again.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target.id !== "calendar") return;
    var moved = document.querySelector(".card[data-focus] .card-link");
    if (moved) moved.focus();
  });
})();
