// Scan upload with a progress bar: the form is sent by XMLHttpRequest (session cookie and CSRF
// token) to the same address as the plain form post; upload progress events drive the <progress>,
// then the server's validation answer (the scan's metadata and QC status, or the error messages)
// is shown and the new scan is added to the list. Without JavaScript the form posts normally.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var box = form.querySelector(".upload-status");
  var bar = document.getElementById("upload-progress");
  var message = document.getElementById("upload-message");
  var button = form.querySelector("button[type=submit]");

  function clearErrors() {
    form.querySelectorAll(".field-error.js").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid=true]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showErrors(errors) {
    var lines = [];
    Object.keys(errors).forEach(function (name) {
      var input = form.querySelector('[name="' + name + '"]');
      errors[name].forEach(function (text) {
        lines.push(text);
        if (input) {
          var p = document.createElement("p");
          p.className = "field-error js";
          p.textContent = text;
          input.closest(".field").appendChild(p);
          input.setAttribute("aria-invalid", "true");
        }
      });
    });
    return lines;
  }

  function setMessage(text, kind) {
    message.textContent = text;
    message.className = kind || "";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var data = new FormData(form);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("X-CSRFToken", data.get("csrfmiddlewaretoken"));
    xhr.responseType = "json";
    box.hidden = false;
    bar.value = 0;
    bar.textContent = "0%";
    bar.dataset.events = "0";
    button.disabled = true;
    setMessage("Uploading…");
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.dataset.events = String(Number(bar.dataset.events || 0) + 1);
      var percent = Math.round((100 * e.loaded) / e.total);
      bar.value = percent;
      bar.textContent = percent + "%";
      setMessage(percent < 100 ? "Uploading… " + percent + "%" : "Uploaded; validating the file…");
    });
    xhr.addEventListener("load", function () {
      button.disabled = false;
      var body = xhr.response || {};
      if (xhr.status === 201 && body.scan) {
        bar.value = 100;
        bar.textContent = "100%";
        var s = body.scan;
        var details = [
          s.kind_label,
          s.shape.join(" × "),
          s.voxel_size.join(" × ") + " mm",
          s.field_strength ? s.field_strength + " T" : "field strength unknown",
        ];
        setMessage("Upload complete: scan " + s.code + " (" + details.join(", ") + "). QC " +
          s.qc_status_label.toLowerCase() + (s.qc_notes ? ": " + s.qc_notes : "."), "ok-text");
        document.getElementById("scan-list").innerHTML = body.html;
        var option = form.querySelector('select[name=kind] option[value="' + s.kind + '"]');
        if (option) option.remove();
        ["file", "echo", "field_strength"].forEach(function (name) {
          var input = form.querySelector('[name="' + name + '"]');
          if (input) input.value = "";
        });
      } else if (body.errors) {
        bar.value = 0;
        setMessage("The scan was not stored: " + showErrors(body.errors).join(" "), "error");
      } else {
        bar.value = 0;
        setMessage("The upload failed (HTTP " + xhr.status + "). Reload the page and try again.", "error");
      }
    });
    xhr.addEventListener("error", function () {
      button.disabled = false;
      setMessage("The connection failed during the upload. Try again.", "error");
    });
    xhr.send(data);
  });
})();
