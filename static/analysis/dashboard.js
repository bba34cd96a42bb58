// Analysis dashboard: the subject timeline form goes to /analysis/subjects/<study id>/.
(function () {
  "use strict";
  var form = document.getElementById("subject-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var studyId = document.getElementById("study-id").value.trim();
    if (studyId) {
      window.location = form.dataset.subjects + encodeURIComponent(studyId) + "/";
    }
  });
})();
