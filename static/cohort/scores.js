// Live subtotals of the Penn UMN and ALSFRS-R forms: region/domain subscores and the total follow
// every change. The server recomputes them on save; these only help while typing. A group with an
// unanswered item has no subscore (as on the server), and an out-of-range ALSFRS-R item is flagged
// with the server's wording.
(function () {
  "use strict";
  var form = document.querySelector("form.scale-form");
  if (!form) return;
  var isUmn = form.dataset.scale === "umn";
  var itemMin = 0;
  var itemMax = isUmn ? 1 : 4;

  function itemValue(item) {
    // Returns {value: number|null, error: string|null}.
    if (isUmn) {
      var checked = item.querySelector("input[type=radio]:checked");
      return { value: checked ? Number(checked.value) : null, error: null };
    }
    var input = item.querySelector("input.score");
    var raw = input.value.trim();
    // An ALSFRS-R item may carry a missing-data code (not done, unknown) instead of a score.
    var code = item.querySelector("select.missing-code");
    var coded = Boolean(code && code.value);
    if (coded) {
      if (raw !== "") {
        return { value: null, coded: true, error: "has both a score and a missing-data code: keep one of them." };
      }
      return { value: null, coded: true, error: null };
    }
    if (raw === "") {
      // A number input holding text the browser cannot parse reports "" with badInput set.
      if (input.validity && input.validity.badInput) {
        return { value: null, error: "Enter a whole number." };
      }
      return { value: null, error: null };
    }
    if (!/^-?\d+$/.test(raw)) return { value: null, error: "Enter a whole number." };
    var n = Number(raw);
    if (n < itemMin || n > itemMax) {
      return { value: null, error: "must be between " + itemMin + " and " + itemMax + " (got " + n + ")." };
    }
    return { value: n, error: null };
  }

  function update() {
    var total = 0;
    var totalComplete = true;
    var unanswered = 0;
    var invalid = 0;
    var codedItems = 0;
    var status = form.querySelector('input[name="form_status"]:checked');
    var formNotDone = Boolean(status && status.value === "not_done");
    form.querySelectorAll("fieldset.region").forEach(function (group) {
      var sum = 0;
      var missing = 0;
      var coded = 0;
      group.querySelectorAll(".item").forEach(function (item) {
        var result = itemValue(item);
        if (!isUmn) {
          var input = item.querySelector("input.score");
          var live = item.querySelector(".live-error");
          var label = item.querySelector("label").textContent.trim();
          // The server's messages stand until the item is edited; then the live check replaces them.
          var serverErrors = item.querySelectorAll(".server-error");
          var showLive = item.dataset.touched === "true" || serverErrors.length === 0;
          live.textContent = result.error && showLive ? label + " (" + item.dataset.item + "): " + result.error : "";
          input.setAttribute("aria-invalid", result.error ? "true" : "false");
          if (result.error) {
            input.setAttribute("aria-describedby", live.id);
          }
          item.classList.toggle("has-live-error", Boolean(result.error));
          if (result.error) invalid += 1;
        }
        if (result.coded && !result.error) {
          coded += 1;
        } else if (result.value === null) {
          missing += 1;
        } else {
          sum += result.value;
        }
      });
      var max = group.dataset.max;
      var text;
      if (formNotDone) {
        text = "not computed (form not done)";
      } else if (coded) {
        // As on the server: a coded item leaves its domain (and the total) not computed.
        text = "not computed (" + coded + " item" + (coded > 1 ? "s" : "") + " not done or unknown)";
      } else {
        text = missing ? sum + "/" + max + " so far (" + missing + " open)" : sum + "/" + max;
      }
      group.querySelector("output.subtotal").textContent = text;
      var row = form.querySelector('output[data-for="' + group.dataset.group + '"]');
      if (row) row.textContent = missing || coded || formNotDone ? "—" : sum + "/" + max;
      total += sum;
      unanswered += missing;
      codedItems += coded;
      if (missing || coded) totalComplete = false;
    });
    var max = isUmn ? 32 : 48;
    var totalText;
    if (formNotDone) {
      totalText = "— (not computed: form not done)";
    } else if (codedItems) {
      totalText = "— (not computed: " + codedItems + " item" + (codedItems > 1 ? "s" : "") + " not done or unknown)";
    } else {
      totalText = totalComplete ? total + "/" + max : "— (" + total + " so far)";
    }
    document.getElementById("live-total").textContent = totalText;
    var note = [];
    if (unanswered && !formNotDone) note.push(unanswered + " item" + (unanswered > 1 ? "s" : "") + " open");
    if (invalid) note.push(invalid + " invalid");
    document.getElementById("unanswered").textContent = note.join(" · ");
  }

  form.addEventListener("input", function (event) {
    var item = event.target.closest(".item");
    if (item && !item.dataset.touched) {
      item.dataset.touched = "true";
      item.querySelectorAll(".server-error").forEach(function (el) { el.remove(); });
      item.classList.remove("has-error");
    }
    update();
  });
  form.addEventListener("change", update);
  update();
})();
