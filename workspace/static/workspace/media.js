// The media library's drop zone: files dropped anywhere on the page go into the form's file
// input and the form is sent, as if they had been chosen with it (the input stays the keyboard's
// way). Nothing here is needed for uploading: without JavaScript the form works as it is.
(function () {
  "use strict";
  const form = document.querySelector("form.media-upload");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-dropzone]");
  const status = form.querySelector("[data-upload-status]");
  const max = Number(form.dataset.maxFiles || 20);
  let depth = 0;

  function hasFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }
  function send(files) {
    if (!files.length) return;
    if (files.length > max) {
      status.textContent = `Upload at most ${max} files at once; you dropped ${files.length}.`;
      return;
    }
    const transfer = new DataTransfer();
    Array.from(files).forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
    status.textContent = `Uploading ${files.length} file${files.length === 1 ? "" : "s"}…`;
    form.requestSubmit();
  }
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    zone.classList.add("is-over");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("is-over");
  });
  document.addEventListener("dragover", (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("is-over");
    send(event.dataTransfer.files);
  });
  form.addEventListener("submit", () => {
    if (input.files.length && !status.textContent) {
      status.textContent = `Uploading ${input.files.length} file${input.files.length === 1 ? "" : "s"}…`;
    }
  });
})();
